"""The stand-in really detects people: the walkers nearest the camera in capture.jpg."""

import pytest

from pnsuite.detection import detectnet
from pnsuite.client.peoplenet import infer_images
from pnsuite.paths import CAPTURE_IMAGE
from pnsuite.repository import model_config

pytestmark = pytest.mark.functional

# Hand-labelled from the picture (1200x675): the five walkers in the foreground and
# middle distance, left to right. These are people, not the model's own output.
WALKERS = {
    "black jacket, left": (273, 115, 345, 305),
    "brown coat": (355, 126, 421, 300),
    "blue hoodie": (423, 85, 588, 552),
    "grey hoodie": (724, 25, 873, 573),
    "navy jacket": (897, 33, 1092, 555),
}
#: PASCAL VOC's (and COCO AP50's) bar for a detection to count as finding a person. HOG's
#: boxes are loose (its box for the grey hoodie leaves out his head: IoU 0.48), so four of
#: the five must reach it, not all.
MIN_IOU = 0.5


def test_stand_in_finds_the_walkers_nearest_the_camera(triton_server):
    with triton_server.grpc_client() as client:
        config = model_config.loaded_config(client)
    if not model_config.is_standin(config):
        pytest.skip(f"the hand-labelled check is for the CPU stand-in; this server runs "
                    f"{model_config.model_identity(config)}, which its goldens check")
    found = infer_images(triton_server.grpc_url, [detectnet.load_image(CAPTURE_IMAGE)])[0]
    people = [d for d in found if d.label == "person"]
    matched = {name: max((detectnet.iou(box, d.box) for d in people), default=0.0)
               for name, box in WALKERS.items()}
    hits = [name for name, best in matched.items() if best >= MIN_IOU]
    assert len(hits) >= 4, (f"only {hits} matched (IoU >= {MIN_IOU}); best IoU per walker "
                            f"{matched}; detections {[str(d) for d in people]}")
