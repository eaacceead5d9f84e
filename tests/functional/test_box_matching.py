"""The golden matcher itself: greedy per-class IoU matching and its named tolerances.

No server: these pin down what "the same detections" means for every other test here.
"""

from dataclasses import replace

import cv2
import numpy as np
import pytest

from pnsuite.detection import box_matching
from pnsuite.detection.box_matching import Tolerances, match
from pnsuite.detection.detectnet import Detection

pytestmark = pytest.mark.functional

PERSON = Detection("person", 0.9, 100.0, 100.0, 200.0, 400.0)  # 100 x 300 px


def _shifted(det: Detection, dx: float = 0.0, dy: float = 0.0, score: float | None = None):
    return replace(det, x1=det.x1 + dx, x2=det.x2 + dx, y1=det.y1 + dy, y2=det.y2 + dy,
                   score=det.score if score is None else score)


def test_greedy_matching_takes_the_best_overlap_first():
    near, nearer = _shifted(PERSON, dx=30), _shifted(PERSON, dx=2)
    report = match([PERSON], [near, nearer])
    assert [p.got for p in report.pairs] == [nearer]
    assert report.extra == [near] and not report.ok


def test_boxes_of_different_classes_never_match():
    bag = replace(PERSON, label="bag")
    report = match([PERSON], [bag])
    assert report.pairs == [] and report.missing == [PERSON] and report.extra == [bag]


def test_boxes_below_the_iou_threshold_are_missing_and_extra():
    # Shifted by 40% of its width: IoU 0.43, below IOU_MATCH_THRESHOLD.
    far = _shifted(PERSON, dx=40)
    assert box_matching.IOU_MATCH_THRESHOLD > 0.43
    report = match([PERSON], [far])
    assert report.missing == [PERSON] and report.extra == [far]


@pytest.mark.parametrize("dx, ok", [(4.0, True), (6.0, False)])
def test_edges_may_move_five_percent_of_the_box(dx, ok):
    # 5% of a 100 px wide box is 5 px.
    assert box_matching.BOX_EDGE_TOLERANCE == 0.05
    report = match([PERSON], [_shifted(PERSON, dx=dx)])
    assert len(report.pairs) == 1 and report.ok is ok, report.describe()


def test_small_boxes_get_the_pixel_floor():
    small = Detection("person", 0.9, 10.0, 10.0, 30.0, 60.0)  # 5% of 20 px is 1 px
    within_floor = _shifted(small, dx=box_matching.BOX_EDGE_TOLERANCE_MIN_PX - 0.5)
    beyond_floor = _shifted(small, dx=box_matching.BOX_EDGE_TOLERANCE_MIN_PX + 0.5)
    assert match([small], [within_floor]).ok
    assert not match([small], [beyond_floor]).ok


@pytest.mark.parametrize("score, ok", [(0.86, True), (0.84, False)])
def test_scores_may_differ_by_the_score_tolerance(score, ok):
    assert match([PERSON], [_shifted(PERSON, score=score)]).ok is ok


def test_only_borderline_boxes_may_come_and_go():
    borderline = Detection("person", box_matching.BORDERLINE_SCORE - 0.01, 500, 100, 560, 260)
    confident = replace(borderline, score=0.8)
    assert match([PERSON, borderline], [PERSON]).ok
    assert match([PERSON], [PERSON, borderline]).ok
    assert not match([PERSON, confident], [PERSON]).ok
    assert not match([PERSON], [PERSON, confident]).ok


def test_exact_tolerances_refuse_any_difference():
    assert match([PERSON], [PERSON], box_matching.EXACT).ok
    assert not match([PERSON], [_shifted(PERSON, dx=0.01)], box_matching.EXACT).ok
    assert not match([PERSON], [_shifted(PERSON, score=0.9001)], box_matching.EXACT).ok


def test_a_mismatch_lists_every_box_and_writes_an_overlay(tmp_path):
    image = np.full((480, 640, 3), 128, np.uint8)
    extra = Detection("person", 0.8, 400, 50, 460, 200)
    overlay = tmp_path / "overlay.png"
    with pytest.raises(AssertionError) as failure:
        box_matching.assert_same_detections([PERSON], [_shifted(PERSON, dx=8), extra], image,
                                            overlay, "synthetic", Tolerances())
    message = str(failure.value)
    assert "synthetic: detections differ" in message
    assert str(PERSON) in message and str(extra) in message and str(overlay) in message
    assert "OFF" in message and "XTRA" in message
    drawn = cv2.imread(str(overlay))
    assert drawn.shape == image.shape
    # Expected box's left edge in blue, the got box (8 px right) in green.
    assert tuple(drawn[250, 100]) == box_matching.EXPECTED_COLOUR
    assert tuple(drawn[250, 108]) == box_matching.GOT_COLOUR


def test_overlay_of_a_small_image_is_scaled_up_to_stay_readable(tmp_path):
    small = np.zeros((240, 320, 3), np.uint8)
    report = match([Detection("person", 0.9, 10, 10, 60, 200)], [])
    path = box_matching.write_overlay(small, report, tmp_path / "small.png")
    assert cv2.imread(str(path)).shape[:2] == (480, 640)
