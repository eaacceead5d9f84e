"""DetectNet_v2 geometry: encode/decode and letterbox round trips, decoder robustness."""

import numpy as np
import pytest

from pnsuite.detection import detectnet
from pnsuite.detection.detectnet import Detection


def _boxes_close(a: Detection, b: Detection, tol: float) -> bool:
    return a.label == b.label and all(abs(x - y) <= tol for x, y in zip(a.box, b.box))


BATCH = [
    [Detection("person", 0.9, 100, 50, 180, 300), Detection("bag", 0.7, 400, 300, 460, 380),
     Detection("face", 0.8, 120, 60, 150, 95)],
    [Detection("person", 0.95, 600, 100, 720, 500), Detection("person", 0.6, 20, 20, 70, 140)],
    [],
]


def test_encode_decode_round_trip_every_class_and_batch_element():
    grids = [detectnet.encode(dets) for dets in BATCH]
    cov = np.stack([g[0] for g in grids])
    bbox = np.stack([g[1] for g in grids])
    decoded = detectnet.decode(cov, bbox)
    assert len(decoded) == len(BATCH)
    for expected, got in zip(BATCH, decoded):
        assert len(got) == len(expected), f"expected {expected}, got {got}"
        for e in expected:
            match = [g for g in got if _boxes_close(e, g, 1.0)]
            assert match, f"{e} not decoded within 1 px: {got}"
            assert match[0].score == pytest.approx(e.score)


@pytest.mark.parametrize("shape", [(675, 1200), (1080, 1920), (480, 640), (1000, 500),
                                   (544, 960), (101, 999)])
def test_letterbox_maps_back_to_the_original_image(shape):
    image = np.full((*shape, 3), 255, dtype=np.uint8)
    canvas, fit = detectnet.letterbox(image)
    assert canvas.shape == (detectnet.NET_H, detectnet.NET_W, 3)
    box = (0.1 * shape[1], 0.2 * shape[0], 0.7 * shape[1], 0.9 * shape[0])
    back = fit.to_image(fit.to_network(box))
    assert back == pytest.approx(box, abs=1e-6)
    # The padding is black, the image region is not, and the odd pixel goes bottom/right.
    rows = np.nonzero(canvas[:, :, 0].any(axis=1))[0]
    cols = np.nonzero(canvas[:, :, 0].any(axis=0))[0]
    assert rows[0] == fit.pad_y and cols[0] == fit.pad_x
    assert detectnet.NET_H - 1 - rows[-1] >= fit.pad_y
    assert detectnet.NET_W - 1 - cols[-1] >= fit.pad_x


def test_preprocess_gives_rgb_chw_in_unit_range():
    image = np.zeros((544, 960, 3), dtype=np.uint8)
    image[:, :, 0] = 255  # blue in BGR
    chw, fit = detectnet.preprocess(image)
    assert chw.shape == detectnet.INPUT_SHAPE and chw.dtype == np.float32
    assert chw[2].min() == 1.0 and chw[0].max() == 0.0  # blue is the last RGB plane
    assert fit.scale == 1.0 and (fit.pad_x, fit.pad_y) == (0, 0)


@pytest.mark.parametrize("fill", [np.nan, np.inf, -np.inf, 0.0, 1.0])
def test_decoder_gives_a_clear_result_on_degenerate_tensors(fill):
    cov = np.full((2, *detectnet.COV_SHAPE), fill, dtype=np.float32)
    bbox = np.full((2, *detectnet.BBOX_SHAPE), fill, dtype=np.float32)
    result = detectnet.decode(cov, bbox)
    assert len(result) == 2
    for dets in result:
        assert all(np.isfinite(d.box).all() and d.x2 > d.x1 and d.y2 > d.y1 for d in dets)
    if fill == 1.0:
        # Every cell claims a 105 px box (2 * 1.5 * 35) around itself; NMS thins the
        # overlapping ones out to a sparse grid per class.
        cells = detectnet.GRID_W * detectnet.GRID_H
        for dets in result:
            assert {d.label for d in dets} == set(detectnet.CLASSES)
            assert 0 < len(dets) < cells * len(detectnet.CLASSES) // 4
            assert all(d.x2 - d.x1 == pytest.approx(105.0) for d in dets)
    else:
        assert result == [[], []]


def test_decoder_names_a_wrong_shape():
    with pytest.raises(ValueError, match="output_cov/Sigmoid"):
        detectnet.decode(np.zeros((1, 3, 34, 61)), np.zeros((1, *detectnet.BBOX_SHAPE)))


def test_load_image_names_a_file_that_is_not_an_image(tmp_path):
    bogus = tmp_path / "not-an-image.jpg"
    bogus.write_text("hello")
    with pytest.raises(detectnet.ImageError, match="not-an-image.jpg"):
        detectnet.load_image(bogus)
