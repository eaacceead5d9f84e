"""The logic of answers checked under load, without a server: which responses a slot
keeps, which image each request carries, the flipped variants and their expected boxes,
and the comparison of kept responses with each image's answer alone."""

import numpy as np
import pytest

from pnsuite.client.image_set import SINGLE_NAME, ImageSet, LoadImage, answer_images, image_for
from pnsuite.client.samples import Sample, sample_points
from pnsuite.detection import box_matching, detectnet, variants
from pnsuite.detection.detectnet import Detection
from pnsuite.perf.answers_under_load import (AnswersDifferUnderLoad, check_samples, compare,
                                             tolerances_for)


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


def test_the_answer_images_are_the_goldens_and_their_exact_flips():
    images = answer_images()
    originals, flips = images.names[:5], images.names[5:]
    assert len(images) == 10 and images.batch == 1
    assert flips == [variants.flipped_name(n) for n in originals]
    for original, flip in zip(images[:5], images[5:]):
        assert original.tensor.shape == (1, *detectnet.INPUT_SHAPE)
        assert np.array_equal(flip.tensor, variants.flip(original.tensor))
    assert images.stacked().shape == (10, *detectnet.INPUT_SHAPE)


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
