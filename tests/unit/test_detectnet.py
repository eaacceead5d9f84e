"""DetectNet_v2 geometry: the decoder against hand-computed boxes and an independent
reference of TAO's formula, encode/decode and letterbox round trips, decoder robustness."""

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


@pytest.mark.parametrize("geometry", detectnet.GEOMETRIES.values(), ids=detectnet.GEOMETRIES)
def test_encode_decode_round_trip_every_class_and_batch_element(geometry):
    grids = [detectnet.encode(dets, geometry) for dets in BATCH]
    cov = np.stack([g[0] for g in grids])
    bbox = np.stack([g[1] for g in grids])
    decoded = detectnet.decode(cov, bbox, geometry=geometry)
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


@pytest.mark.parametrize("fill", [0.0, 1.0])
def test_decoder_gives_a_clear_result_on_degenerate_tensors(fill):
    cov = np.full((2, *detectnet.COV_SHAPE), fill, dtype=np.float32)
    bbox = np.full((2, *detectnet.BBOX_SHAPE), fill, dtype=np.float32)
    result = detectnet.decode(cov, bbox)
    assert len(result) == 2
    for dets in result:
        assert all(np.isfinite(d.box).all() and d.x2 > d.x1 and d.y2 > d.y1 for d in dets)
    if fill == 1.0:
        # Every cell claims a 70 px box (2 * 35) around itself; NMS drops a cell's row and
        # column neighbours (IoU 54/86 = 0.63), not its diagonal ones (IoU 0.42): at most
        # half the cells of each class survive.
        cells = detectnet.GRID_W * detectnet.GRID_H
        for dets in result:
            assert {d.label for d in dets} == set(detectnet.CLASSES)
            assert 0 < len(dets) <= cells * len(detectnet.CLASSES) // 2
            assert all(d.x2 - d.x1 == pytest.approx(70.0) for d in dets)
    else:
        assert result == [[], []]


@pytest.mark.parametrize("tensor", ["cov", "bbox"])
@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_a_non_finite_value_is_an_error_naming_tensor_cell_and_image(tensor, value):
    cov = np.zeros((2, *detectnet.COV_SHAPE), dtype=np.float32)
    bbox = np.zeros((2, *detectnet.BBOX_SHAPE), dtype=np.float32)
    # Below the coverage threshold too: an overflow anywhere in the grid is a broken engine.
    (cov if tensor == "cov" else bbox)[1, 2, 3, 7] = value
    name = detectnet.COV_NAME if tensor == "cov" else detectnet.BBOX_NAME
    with pytest.raises(detectnet.NonFiniteOutput) as err:
        detectnet.decode(cov, bbox, sources=["first.jpg", "second.jpg"])
    message = str(err.value)
    assert f"{name}: 1 non-finite values for second.jpg" in message, message
    assert "(2,3,7)" in message and "first.jpg" not in message, message


def test_non_finite_cells_are_counted_and_the_list_is_capped():
    cov = np.zeros((1, *detectnet.COV_SHAPE), dtype=np.float32)
    cov[0, 0, 5, :20] = np.nan
    with pytest.raises(detectnet.NonFiniteOutput, match=r"20 non-finite values for batch "
                       r"element 0, cells \(channel,row,col\) \(0,5,0\).* and 12 more"):
        detectnet.decode(cov, np.zeros((1, *detectnet.BBOX_SHAPE), dtype=np.float32))


def _one_cell(c: int, row: int, col: int, o: tuple[float, float, float, float],
              score: float = 0.9) -> tuple[np.ndarray, np.ndarray]:
    cov = np.zeros((1, *detectnet.COV_SHAPE), dtype=np.float32)
    bbox = np.zeros((1, *detectnet.BBOX_SHAPE), dtype=np.float32)
    cov[0, c, row, col] = score
    bbox[0, 4 * c:4 * c + 4, row, col] = o
    return cov, bbox


# Worked by hand from TAO's formula (x1 = 16*col + 0.5 - 35*o0, x2 = 16*col + 0.5 + 35*o2,
# rows likewise), not from the suite's encoder.
HAND_DECODED = [
    # class, row, col, outputs, (x1, y1, x2, y2)
    (0, 2, 3, (0.5, 0.25, 1.0, 2.0), (31.0, 23.75, 83.5, 102.5)),
    (2, 33, 59, (0.1, 0.2, 0.3, 0.4), (941.0, 521.5, 955.0, 542.5)),
    (1, 0, 0, (0.0, 0.0, 0.5, 1.0), (0.5, 0.5, 18.0, 35.5)),
]


@pytest.mark.parametrize("c, row, col, o, box", HAND_DECODED)
def test_the_decoder_gives_taos_boxes(c, row, col, o, box):
    (det,), = detectnet.decode(*_one_cell(c, row, col, o))
    assert det.label == detectnet.CLASSES[c] and det.score == pytest.approx(0.9)
    assert det.box == pytest.approx(box, abs=1e-4)


def test_the_example_geometry_puts_every_edge_17_5_px_further_out_than_its_own_centre():
    # people_detection.cc: x1 = 16*col - 35*(o0 + 0.5): for the first hand case
    # 48 - 35 = 13.0, 32 - 26.25 = 5.75, 48 + 52.5 = 100.5, 32 + 87.5 = 119.5.
    (det,), = detectnet.decode(*_one_cell(0, 2, 3, (0.5, 0.25, 1.0, 2.0)),
                               geometry=detectnet.EXAMPLE_GEOMETRY)
    assert det.box == pytest.approx((13.0, 5.75, 100.5, 119.5), abs=1e-4)


def test_boxes_map_back_through_the_letterbox():
    fit = detectnet.Letterbox(scale=0.8, pad_x=0, pad_y=32)
    (det,), = detectnet.decode(*_one_cell(0, 2, 3, (0.5, 0.25, 1.0, 2.0)), [fit])
    assert det.box == pytest.approx((31.0 / 0.8, (23.75 - 32) / 0.8, 83.5 / 0.8,
                                     (102.5 - 32) / 0.8), abs=1e-4)


def _reference_boxes(cov: np.ndarray, bbox: np.ndarray) -> list[tuple]:
    """TAO's formula cell by cell, in plain Python (no NMS: the cells are far apart)."""
    found = []
    for c in range(cov.shape[0]):
        for row in range(cov.shape[1]):
            for col in range(cov.shape[2]):
                if cov[c, row, col] > 0.5:
                    o = [float(bbox[4 * c + k, row, col]) for k in range(4)]
                    x, y = 16 * col + 0.5, 16 * row + 0.5
                    found.append((detectnet.CLASSES[c], x - 35 * o[0], y - 35 * o[1],
                                  x + 35 * o[2], y + 35 * o[3]))
    return sorted(found)


@pytest.mark.parametrize("seed", range(5))
def test_the_decoder_agrees_with_an_independent_reference_on_random_grids(seed):
    rng = np.random.default_rng(seed)
    cov = np.zeros(detectnet.COV_SHAPE, dtype=np.float32)
    bbox = rng.uniform(0.05, 0.3, detectnet.BBOX_SHAPE).astype(np.float32)
    # Cells 8 apart with boxes under 21 px a side never overlap: NMS keeps them all.
    for c in range(len(detectnet.CLASSES)):
        for row in range(c, detectnet.GRID_H, 8):
            for col in range(c, detectnet.GRID_W, 8):
                cov[c, row, col] = rng.uniform(0.51, 1.0)
    (got,) = detectnet.decode(cov, bbox)
    decoded = sorted((d.label, *d.box) for d in got)
    reference = _reference_boxes(cov, bbox)
    assert len(decoded) == len(reference) > 100
    for d, r in zip(decoded, reference):
        assert d[0] == r[0] and d[1:] == pytest.approx(r[1:], abs=1e-3), (d, r)


def test_decoder_names_a_wrong_shape():
    with pytest.raises(ValueError, match="output_cov/Sigmoid"):
        detectnet.decode(np.zeros((1, 3, 34, 61)), np.zeros((1, *detectnet.BBOX_SHAPE)))


def test_load_image_names_a_file_that_is_not_an_image(tmp_path):
    bogus = tmp_path / "not-an-image.jpg"
    bogus.write_text("hello")
    with pytest.raises(detectnet.ImageError, match="not-an-image.jpg"):
        detectnet.load_image(bogus)
