"""The logic of answers checked under load, without a server: which responses a slot
keeps, which image each request carries, the load's images (capture.jpg, its centre and
their flips) and a flip's expected boxes, the references, and the comparison of kept
responses with each image's answer alone."""

import numpy as np
import pytest

from pnsuite.client.image_set import SINGLE_NAME, ImageSet, LoadImage, answer_images, image_for
from pnsuite.client.samples import Sample, sample_points
from pnsuite.detection import box_matching, detectnet, variants
from pnsuite.detection.detectnet import Detection
from pnsuite.measure import answers_under_load
from pnsuite.measure.answers_under_load import (AnswersDifferUnderLoad, check_samples, compare,
                                                tolerances_for)
from pnsuite.paths import CAPTURE_IMAGE


def test_a_slot_keeps_responses_from_the_middle_of_its_run():
    assert sample_points(30, 2) == {10, 20}
    assert sample_points(3, 2) == {1, 2}
    assert sample_points(2, 2) == {0, 1}  # fewer requests than samples: every one
    assert sample_points(1, 3) == {0}
    assert sample_points(0, 2) == sample_points(10, 0) == frozenset()


def test_slots_in_flight_together_carry_different_images():
    for sent in range(12):
        assert len({image_for(slot, sent, 10) for slot in range(6)}) == 6
    # a slot steps through every image in turn
    assert [image_for(3, sent, 5) for sent in range(5)] == [3, 4, 0, 1, 2]
    assert {image_for(slot, sent, 1) for slot in range(4) for sent in range(3)} == {0}


def test_a_flipped_box_is_mirrored_about_the_network_inputs_centre():
    box = Detection("bag", 0.8, 100.0, 50.0, 200.0, 150.0)
    assert variants.mirror(box) == Detection("bag", 0.8, 760.0, 50.0, 860.0, 150.0)
    assert variants.mirror(variants.mirror(box)) == box
    centred = Detection("person", 0.9, 430.0, 0.0, 530.0, 10.0)
    assert variants.mirror(centred) == centred


def test_a_flip_moves_each_pixel_to_its_mirror_column_and_its_boxes_with_it():
    chw = np.zeros(detectnet.INPUT_SHAPE, np.float32)
    chw[:, 100:200, 40:120] = 1.0  # a bright block, columns 40..119
    flipped = variants.flip(chw)
    assert flipped.flags.c_contiguous
    assert np.array_equal(variants.flip(flipped), chw)
    columns = np.nonzero(flipped[0].any(axis=0))[0]
    assert (columns.min(), columns.max() + 1) == (detectnet.NET_W - 120, detectnet.NET_W - 40)
    block = Detection("person", 1.0, 40.0, 100.0, 120.0, 200.0)
    assert variants.mirror(block).box == (840.0, 100.0, 920.0, 200.0)
    # the boxes a grid holds follow the flip exactly: encoded mirrored, decoded mirrored
    boxes = [Detection("person", 0.9, 100.0, 40.0, 180.0, 240.0),
             Detection("face", 0.7, 600.0, 300.0, 660.0, 380.0)]
    decoded = detectnet.decode(*detectnet.encode(variants.mirrored(boxes)))[0]
    assert box_matching.match(variants.mirrored(boxes), decoded, box_matching.EXACT).ok


def test_the_answer_images_are_capture_its_full_resolution_centre_and_their_exact_flips():
    images = answer_images()
    assert images.names == ["capture.jpg", "capture.jpg (flipped)", "capture.jpg (centre)",
                            "capture.jpg (centre) (flipped)"]
    assert images.batch == 1 and images.stacked().shape == (4, *detectnet.INPUT_SHAPE)
    bgr = detectnet.load_image(CAPTURE_IMAGE)  # 1200x675: letterboxed to 960x540
    whole, flip, centre, centre_flip = images
    assert np.array_equal(whole.tensor[0], detectnet.preprocess(bgr)[0])  # what loads sent
    assert np.array_equal(flip.tensor, variants.flip(whole.tensor))
    assert np.array_equal(centre_flip.tensor, variants.flip(centre.tensor))
    # the centre is the original's pixels, unresampled: rows 67..606, columns 120..1079
    expected = detectnet.preprocess(bgr[67:607, 120:1080])[0]
    assert np.array_equal(centre.tensor[0], expected)
    # all four fill the network input alike: 960x540 of picture, 2 black rows each side
    for image in images:
        rows = np.nonzero(image.tensor[0].any(axis=(0, 2)))[0]
        assert (rows.min(), rows.max()) == (2, 541), image.name
    # and no two are the same picture
    assert len({image.tensor.tobytes() for image in images}) == 4


def test_a_centre_crop_fills_the_network_input_as_the_whole_image_does():
    wide = np.zeros((1080, 1920, 3), np.uint8)  # 16:9, shrunk by 2: crop 960x540
    wide[540, 960] = 255
    crop = variants.centre_crop(wide)
    assert crop.shape == (540, 960, 3) and crop[270, 480].max() == 255
    tall = np.zeros((1200, 800, 3), np.uint8)  # portrait, shrunk to 363x544: crop as large
    assert variants.centre_crop(tall).shape == (544, 363, 3)
    with pytest.raises(detectnet.ImageError, match="enlarged"):
        variants.centre_crop(np.zeros((240, 320, 3), np.uint8))
    assert variants.centre_name("x.jpg") == "x.jpg (centre)"


def test_one_tensor_is_a_set_of_one_and_names_are_distinct():
    single = ImageSet.of(np.zeros((3, *detectnet.INPUT_SHAPE[1:]), np.float32))
    assert single.names == [SINGLE_NAME] and single[0].tensor.shape == (1, 3, 544, 960)
    assert ImageSet.of(single) is single
    with pytest.raises(ValueError, match="distinct"):
        ImageSet([single[0], single[0]])
    with pytest.raises(ValueError, match="at least one"):
        ImageSet([])


#: three images' answers alone, in network pixels
ANSWERS = {
    "a.jpg": [Detection("person", 0.9, 100.0, 40.0, 180.0, 240.0)],
    "b.jpg": [Detection("person", 0.8, 500.0, 100.0, 560.0, 260.0),
              Detection("bag", 0.7, 520.0, 200.0, 550.0, 240.0)],
    "c.jpg": [],
}
IMAGES = ImageSet([LoadImage(name, np.zeros((1, *detectnet.INPUT_SHAPE), np.float32))
                   for name in ANSWERS])
REFERENCES = [detectnet.decode(*detectnet.encode(boxes)) for boxes in ANSWERS.values()]


def _sample(image: int, answer: list[Detection], slot: int = 0, sequence: int = 0) -> Sample:
    cov, bbox = detectnet.encode(answer)
    return Sample(image, slot, sequence, cov[None], bbox[None])


def test_answers_that_match_their_images_alone_pass():
    samples = [_sample(i, boxes, slot=i) for i, boxes in enumerate(ANSWERS.values())]
    assert check_samples(samples, REFERENCES, IMAGES, box_matching.EXACT, "window 1") == 3


def test_an_answer_handed_to_the_wrong_request_names_image_slot_request_and_owner(tmp_path):
    samples = [_sample(0, ANSWERS["a.jpg"], slot=2, sequence=4),
               _sample(1, ANSWERS["a.jpg"], slot=3, sequence=7)]  # b.jpg got a.jpg's answer
    with pytest.raises(AnswersDifferUnderLoad) as caught:
        check_samples(samples, REFERENCES, IMAGES, box_matching.EXACT, "window 3", tmp_path)
    message = str(caught.value)
    # the first line stands alone: a sweep keeps only it for a failed point
    assert message.splitlines()[0].startswith("b.jpg: request 7 of slot 3 (window 3)"), message
    assert message.splitlines()[0].endswith("(1 of 2 sampled responses differ)"), message
    assert ("b.jpg: request 7 of slot 3 (window 3) differs from the same image sent alone: "
            "0 matched (0 out of tolerance), 2 missing, 1 extra; it is the answer of a.jpg "
            "alone") in message, message
    assert "MISS person 0.80" in message, message  # box by box
    assert (tmp_path / "b.jpg-slot3-request7.png").is_file()


def test_tolerances_are_exact_for_a_batch_invariant_model_and_the_defaults_otherwise():
    assert tolerances_for(True) == box_matching.EXACT
    assert tolerances_for(False) == box_matching.Tolerances()
    nudged = [Detection("person", 0.88, 101.0, 40.0, 181.0, 240.0)]  # score 0.02, 1 px off
    assert compare([_sample(0, nudged)], REFERENCES, IMAGES, tolerances_for(False)) == []
    [mismatch] = compare([_sample(0, nudged)], REFERENCES, IMAGES, tolerances_for(True))
    assert mismatch.report.off_pairs and mismatch.belongs_to == ()


def test_an_empty_answer_where_people_were_found_alone_differs():
    [mismatch] = compare([_sample(1, [])], REFERENCES, IMAGES, tolerances_for(False))
    assert len(mismatch.report.missing) == 2 and mismatch.belongs_to == ("c.jpg",)


def test_references_send_each_image_alone_but_one_the_answer_check_already_sent(monkeypatch):
    sent = []

    class FakeClient:
        def __init__(self, url, model):
            pass

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            pass

        def infer(self, tensor):
            sent.append(tensor)
            return detectnet.encode(ANSWERS["b.jpg"])[0][None], \
                detectnet.encode(ANSWERS["b.jpg"])[1][None]

    monkeypatch.setattr(answers_under_load, "PeopleNetClient", FakeClient)
    images = ImageSet([LoadImage(name, np.full((1, *detectnet.INPUT_SHAPE), i, np.float32))
                       for i, name in enumerate(ANSWERS)])
    cov, bbox = detectnet.encode(ANSWERS["a.jpg"])
    # the answer check sent a.jpg's tensor alone (an equal copy) and got a.jpg's answer
    alone = [(images[0].tensor.copy(), cov[None], bbox[None])]
    references = answers_under_load.take_references("url", images, alone=alone)
    assert [int(t.flat[0]) for t in sent] == [1, 2]  # b.jpg and c.jpg, not a.jpg again
    assert box_matching.match(ANSWERS["a.jpg"], references[0][0], box_matching.EXACT).ok
    assert box_matching.match(ANSWERS["b.jpg"], references[1][0], box_matching.EXACT).ok
