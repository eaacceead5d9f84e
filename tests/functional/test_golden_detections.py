"""Detections on the golden images match the goldens recorded for the model being served.

With --update-goldens the same tests measure a candidate instead and fail where it loses
or moves a confident box (see pnsuite/detection/golden_update.py).
"""

from __future__ import annotations

import json
from dataclasses import replace

import cv2
import pytest

from pnsuite.detection import box_matching, detectnet, golden_update, goldens
from pnsuite.client.peoplenet import infer_images
from pnsuite.paths import CAPTURE_IMAGE
from fixtures.golden_recording import GOLDEN_REBUILD_PROPERTY, GOLDEN_UPDATE_PROPERTY

pytestmark = pytest.mark.functional

IMAGES = goldens.golden_images()

@pytest.mark.parametrize("image_path", IMAGES, ids=[p.name for p in IMAGES])
def test_detections_match_the_golden(triton_server, served_model, record_options,
                                     update_goldens, goldens_dir, accepted_golden_changes,
                                     results_store, image_path, request, tmp_path):
    image = detectnet.load_image(image_path)
    got = infer_images(triton_server.grpc_url, [image], sources=[image_path.name])[0]
    repo = triton_server.model_repository.name if triton_server.model_repository else "external"
    if update_goldens:
        observed = golden_update.observe(served_model, repo,
                                         image_path.name, got, goldens_dir,
                                         accepted_golden_changes)
        request.node.user_properties.append((GOLDEN_UPDATE_PROPERTY, observed.line()))
        if observed.problems:
            report = observed.change.report
            overlay = box_matching.write_overlay(
                image, report, tmp_path / f"{image_path.stem}-update.png") if report else None
            pytest.fail("\n\n".join(observed.problems)
                        + (f"\noverlay (goldens blue, now green): {overlay}" if overlay else ""),
                        pytrace=False)
        return
    golden = request.getfixturevalue("golden")
    rebuilt = served_model.engine.rebuild_of(golden.engine)
    if rebuilt:
        request.node.user_properties.append((GOLDEN_REBUILD_PROPERTY, (
            f"{image_path.name}: rebuilt plan {served_model.engine.plan_sha256[:12]} judged by "
            f"the goldens of plan {golden.engine.plan_sha256[:12]} (same model, precision, "
            f"TensorRT)")))
    try:
        expected = golden.detections(image_path.name, record_options)
    except goldens.GoldenError as err:
        pytest.fail(str(err), pytrace=False)
    if results_store is not None:  # the fleet's record of what each engine found
        results_store.add_golden_result(
            served_model.identity, served_model.engine.to_json(), image_path.name,
            [goldens.detection_json(d) for d in got],
            "match" if box_matching.match(expected, got).ok else "differs", repo)
    box_matching.assert_same_detections(
        expected, got, image, tmp_path / f"{image_path.stem}-overlay.png",
        f"{image_path.name} on {served_model.identity} (Triton {served_model.triton_version};"
        f" goldens recorded with Triton {golden.triton_version})")
    if rebuilt:  # within tolerance: these boxes become the rebuilt plan's goldens if the run passes
        golden_update.observe(served_model, repo, image_path.name, got, goldens_dir)


def test_the_goldens_cover_every_image_with_people(served_model, golden):
    # A golden image the model finds nobody in would make its golden test vacuous.
    assert len(IMAGES) >= 5, f"expected at least 5 golden images, have {IMAGES}"
    unrecorded = [p.name for p in IMAGES if p.name not in golden.images]
    assert not unrecorded, f"no goldens for {unrecorded}: record them with --update-goldens"
    empty = [p.name for p in IMAGES if not golden.images[p.name]]
    assert not empty, f"{served_model.identity} finds nobody in {empty}"


def _wrong_golden(path, served_model, golden):
    """The capture's golden, altered: its best box moved by a tenth of its width (still
    matched, but out of tolerance), the next best dropped, a box added where nobody
    stands; written as a golden file of this model."""
    real = sorted(golden.detections(CAPTURE_IMAGE.name), key=lambda d: -d.score)
    assert len(real) >= 2, f"the capture's golden has too few boxes to alter: {real}"
    moved = real[0]
    shift = (moved.x2 - moved.x1) / 10
    altered = [replace(moved, x1=moved.x1 + shift, x2=moved.x2 + shift), *real[2:],
               detectnet.Detection("person", 0.9, 20.0, 20.0, 80.0, 180.0)]
    goldens.GoldenFile.for_model(served_model, {CAPTURE_IMAGE.name: altered}).write(path)


def test_a_wrong_golden_fails_listing_every_box_with_an_overlay(triton_server, served_model,
                                                                golden, tmp_path):
    _wrong_golden(tmp_path / "wrong.json", served_model, golden)
    expected = goldens.load_golden(served_model, tmp_path / "wrong.json") \
        .detections(CAPTURE_IMAGE.name)
    image = detectnet.load_image(CAPTURE_IMAGE)
    got = infer_images(triton_server.grpc_url, [image], sources=[CAPTURE_IMAGE.name])[0]
    overlay = tmp_path / "wrong-overlay.png"
    with pytest.raises(AssertionError) as failure:
        box_matching.assert_same_detections(expected, got, image, overlay, "capture.jpg")
    message = str(failure.value)
    print(message)  # shown with -s: what a user sees when a golden is wrong
    assert "detections differ" in message and str(overlay) in message
    # Every expected and every returned box is listed, and the three changes are named.
    for det in [*expected, *got]:
        assert str(det) in message, f"{det} not listed in:\n{message}"
    assert "\nOFF  " in message and "\nMISS " in message and "\nXTRA " in message, message
    drawn = cv2.imread(str(overlay))
    assert drawn is not None, f"overlay {overlay} is not a readable image"
    colours = {tuple(int(v) for v in c) for c in drawn.reshape(-1, 3)}
    assert box_matching.EXPECTED_COLOUR in colours and box_matching.GOT_COLOUR in colours


def test_goldens_of_another_model_are_refused(served_model, golden, tmp_path):
    path = tmp_path / "other.json"
    _wrong_golden(path, served_model, golden)
    data = json.loads(path.read_text())
    data["model_identity"] = other = f"not-{served_model.identity}"
    path.write_text(json.dumps(data))
    with pytest.raises(goldens.GoldenError, match="refusing to compare") as refused:
        goldens.load_golden(served_model, path)
    assert other in str(refused.value) and served_model.identity in str(refused.value)


def test_goldens_of_a_changed_config_are_refused(served_model, golden, tmp_path):
    path = tmp_path / "changed.json"
    _wrong_golden(path, served_model, golden)
    data = json.loads(path.read_text())
    data["config_digest"] = "0" * 16
    path.write_text(json.dumps(data))
    with pytest.raises(goldens.GoldenError, match="(?s)config digest 0{16}.*--update-goldens"):
        goldens.load_golden(served_model, path)


def test_a_missing_golden_file_says_how_to_record_it(served_model, record_options, tmp_path):
    missing = tmp_path / "detections" / served_model.file_name
    with pytest.raises(goldens.GoldenError) as err:
        goldens.load_golden(served_model, missing, record_options)
    message = str(err.value)
    assert str(missing) in message and "--update-goldens" in message
    assert record_options in message, "the how-to should name this server's options"


def test_goldens_of_another_engine_are_refused_naming_what_differs(served_model, golden,
                                                                   tmp_path):
    path = tmp_path / "int8.json"
    _wrong_golden(path, served_model, golden)
    data = json.loads(path.read_text())
    data["engine"] = {"plan_sha256": "ab" * 32, "tensorrt_version": "8.6.2",
                      "precision": "int8"}
    path.write_text(json.dumps(data))
    with pytest.raises(goldens.GoldenError, match="(?s)another engine.*plan sha256 abababababab"
                       ".*precision int8.*--update-goldens"):
        goldens.load_golden(served_model, path)
