"""Golden updates that cannot bless a regression, and goldens keyed to the engine: the
candidate/diff/promotion logic and the engine manifest, on files (no server)."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from pnsuite.detection import golden_update, goldens
from pnsuite.detection.detectnet import Detection
from pnsuite.paths import PROJECT_ROOT
from pnsuite.repository import engine
from pnsuite.repository.model_config import ModelConfig

PERSON = Detection("person", 0.9, 100.0, 50.0, 180.0, 300.0)
OTHER = Detection("person", 0.8, 400.0, 60.0, 470.0, 280.0)
FAINT = Detection("person", 0.52, 700.0, 60.0, 760.0, 200.0)  # borderline score
FP16 = engine.EngineIdentity(plan_sha256="aa" * 32, tensorrt_version="8.6.2", precision="fp16")
INT8 = engine.EngineIdentity(plan_sha256="bb" * 32, tensorrt_version="8.6.2", precision="int8")


def _model(engine_identity: engine.EngineIdentity = FP16, digest: str = "d" * 16,
           batch_invariant: bool = False) -> goldens.ModelUnderTest:
    return goldens.ModelUnderTest("peoplenet-tensorrt_plan", digest, "2.51.0", "tensorrt_plan",
                                  engine_identity, batch_invariant)


def _golden(directory: Path, images: dict, model: goldens.ModelUnderTest | None = None) -> Path:
    model = model or _model()
    path = goldens.golden_path(model, directory)
    goldens.GoldenFile.for_model(model, images).write(path)
    return path


def _moved(det: Detection, dx: float) -> Detection:
    return replace(det, x1=det.x1 + dx, x2=det.x2 + dx)


def test_a_first_recording_is_new_and_promotes_into_a_golden_file(tmp_path):
    model = _model()
    observed = golden_update.observe(model, "sample_1", "a.jpg", [PERSON], tmp_path)
    assert observed.problems == [] and "new, 1 boxes" in observed.line()
    assert not goldens.golden_path(model, tmp_path).exists(), "written before the run passed"
    golden_update.promote(model.identity, tmp_path)
    stored = goldens.load_golden(model, goldens.golden_path(model, tmp_path))
    assert stored.images == {"a.jpg": [PERSON]} and stored.engine == FP16
    assert golden_update.pending(tmp_path) == []


def test_a_lost_confident_box_fails_and_promotion_refuses_without_acceptance(tmp_path):
    path = _golden(tmp_path, {"a.jpg": [PERSON, OTHER]})
    before = path.read_bytes()
    observed = golden_update.observe(_model(), "sample_1", "a.jpg", [PERSON], tmp_path)
    assert len(observed.problems) == 1
    assert "1 confident lost" in observed.problems[0]
    assert "--accept-golden-change a.jpg" in observed.problems[0]
    assert str(OTHER) in observed.problems[0], "the lost box is named"
    with pytest.raises(goldens.GoldenError, match="a.jpg lost or moved"):
        golden_update.promote(_model().identity, tmp_path)
    assert path.read_bytes() == before, "a refused promotion changed the goldens"
    assert golden_update.pending(tmp_path) == [_model().identity], "the candidate is kept"


def test_a_box_moved_beyond_tolerance_needs_acceptance_and_accepting_names_the_image(tmp_path):
    _golden(tmp_path, {"a.jpg": [PERSON], "b.jpg": [OTHER]})
    moved = _moved(PERSON, 20.0)
    observed = golden_update.observe(_model(), "sample_1", "a.jpg", [moved], tmp_path,
                                     accepted={"b.jpg"})
    assert observed.problems and "1 moved" in observed.problems[0]
    accepted = golden_update.observe(_model(), "sample_1", "a.jpg", [moved], tmp_path,
                                     accepted={"a.jpg"})
    assert accepted.problems == [] and "(accepted)" in accepted.line()
    golden_update.promote(_model().identity, tmp_path, accepted={"a.jpg"})
    stored = goldens.GoldenFile.read(goldens.golden_path(_model(), tmp_path))
    assert stored.images == {"a.jpg": [moved], "b.jpg": [OTHER]}


def test_boxes_within_tolerance_are_not_rewritten(tmp_path):
    path = _golden(tmp_path, {"a.jpg": [PERSON, OTHER]})
    before = path.read_bytes()
    nudged = [_moved(PERSON, 1.0), replace(OTHER, score=OTHER.score + 0.01)]
    observed = golden_update.observe(_model(), "sample_1", "a.jpg", nudged, tmp_path)
    assert observed.problems == [] and observed.change.unchanged
    golden_update.promote(_model().identity, tmp_path)
    assert path.read_bytes() == before, "an unchanged image was rewritten: goldens creep"


def test_an_accepted_change_keeps_the_boxes_that_did_not_change(tmp_path):
    _golden(tmp_path, {"a.jpg": [PERSON, OTHER]})
    new = [_moved(PERSON, 1.0), FAINT]  # OTHER lost; PERSON within tolerance; FAINT added
    golden_update.observe(_model(), "sample_1", "a.jpg", new, tmp_path, accepted={"a.jpg"})
    golden_update.promote(_model().identity, tmp_path, accepted={"a.jpg"})
    stored = goldens.GoldenFile.read(goldens.golden_path(_model(), tmp_path))
    assert stored.images["a.jpg"] == [PERSON, FAINT]


def test_an_added_confident_box_is_reported_but_loses_nothing(tmp_path):
    _golden(tmp_path, {"a.jpg": [PERSON]})
    observed = golden_update.observe(_model(), "sample_1", "a.jpg", [PERSON, OTHER], tmp_path)
    assert observed.problems == [] and "1 confident added" in observed.line()


def test_repositories_of_one_model_must_agree(tmp_path):
    golden_update.observe(_model(), "sample_1", "a.jpg", [PERSON, OTHER], tmp_path)
    observed = golden_update.observe(_model(), "sample_2", "a.jpg", [PERSON], tmp_path)
    assert len(observed.problems) == 1
    assert "a.jpg: sample_2 (got) and sample_1 (expected) disagree" in observed.problems[0]


def test_batch_invariant_models_must_agree_exactly_others_within_tolerance(tmp_path):
    nudged = [_moved(PERSON, 1.0)]
    tolerant, exact = tmp_path / "tolerant", tmp_path / "exact"
    golden_update.observe(_model(), "sample_1", "a.jpg", [PERSON], tolerant)
    assert golden_update.observe(_model(), "sample_2", "a.jpg", nudged, tolerant).problems == []
    strict = _model(batch_invariant=True)
    golden_update.observe(strict, "sample_1", "a.jpg", [PERSON], exact)
    assert golden_update.observe(strict, "sample_2", "a.jpg", nudged, exact).problems


def test_repositories_with_different_answer_digests_under_one_identity_are_refused(tmp_path):
    golden_update.observe(_model(), "sample_1", "a.jpg", [PERSON], tmp_path)
    observed = golden_update.observe(_model(digest="e" * 16), "sample_2", "b.jpg", [PERSON],
                                     tmp_path)
    assert any("different answer digests" in p for p in observed.problems), observed.problems


def test_promotion_does_not_depend_on_which_repository_finished_first(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    nudged = [_moved(PERSON, 1.0)]
    golden_update.observe(_model(), "sample_1", "x.jpg", [PERSON], a)
    golden_update.observe(_model(), "sample_2", "x.jpg", nudged, a)
    golden_update.observe(_model(), "sample_2", "x.jpg", nudged, b)
    golden_update.observe(_model(), "sample_1", "x.jpg", [PERSON], b)
    for d in (a, b):
        golden_update.promote(_model().identity, d)
    assert goldens.golden_path(_model(), a).read_bytes() == \
        goldens.golden_path(_model(), b).read_bytes()
    # the first repository by name stands for the model
    assert goldens.GoldenFile.read(goldens.golden_path(_model(), a)).images["x.jpg"] == [PERSON]


def test_a_new_engine_is_diffed_against_the_old_goldens_and_re_keys_them(tmp_path):
    _golden(tmp_path, {"a.jpg": [PERSON]}, _model(FP16))
    observed = golden_update.observe(_model(INT8), "sample_1", "a.jpg", [PERSON], tmp_path)
    assert observed.change.unchanged, "the diff must be against the FP16 goldens, not 'new'"
    assert "precision: fp16 vs int8" in observed.line()
    review = golden_update.promote(_model(INT8).identity, tmp_path)
    assert any("re-keyed" in line for line in review.lines())
    stored = goldens.load_golden(_model(INT8), goldens.golden_path(_model(INT8), tmp_path))
    assert stored.engine == INT8 and stored.images == {"a.jpg": [PERSON]}


def test_a_new_engine_cannot_carry_old_entries_it_was_not_measured_on(tmp_path):
    path = _golden(tmp_path, {"a.jpg": [PERSON], "b.jpg": [OTHER]}, _model(FP16))
    before = path.read_bytes()
    golden_update.observe(_model(INT8), "sample_1", "a.jpg", [PERSON], tmp_path)
    with pytest.raises(goldens.GoldenError, match="b.jpg were not measured"):
        golden_update.promote(_model(INT8).identity, tmp_path)
    assert path.read_bytes() == before


def test_goldens_of_another_precision_are_refused_naming_the_difference(tmp_path):
    path = _golden(tmp_path, {"a.jpg": [PERSON]}, _model(FP16))
    with pytest.raises(goldens.GoldenError, match="another engine.*precision: fp16 vs int8"):
        goldens.load_golden(_model(INT8), path)
    goldens.load_golden(_model(replace(FP16, tensorrt_version="")), path)  # unknown: not compared


def test_a_rebuilt_plan_is_judged_by_the_goldens_of_the_plan_it_replaces(tmp_path):
    # TensorRT picks tactics by timing: a cache miss rebuilds a plan of another sha256
    # from the same model, precision and TensorRT
    built = replace(FP16, source_model_sha256="5" * 64)
    path = _golden(tmp_path, {"a.jpg": [PERSON]}, _model(built))
    rebuilt = replace(built, plan_sha256="f" * 64)
    assert rebuilt.rebuild_of(built)
    assert goldens.load_golden(_model(rebuilt), path).images == {"a.jpg": [PERSON]}


def _rebuild_observed(tmp_path, images):
    """Goldens of a plan on a.jpg and b.jpg, and a rebuilt plan's boxes on `images`, each
    a pixel off (within the tolerance), observed as the golden test does."""
    built = replace(FP16, source_model_sha256="5" * 64)
    path = _golden(tmp_path, {"a.jpg": [PERSON], "b.jpg": [OTHER]}, _model(built))
    rebuilt = replace(built, plan_sha256="f" * 64)
    boxes = {"a.jpg": [_moved(PERSON, 1.0)], "b.jpg": [_moved(OTHER, -1.0)]}
    for image in images:
        golden_update.observe(_model(rebuilt), "sample_1", image, boxes[image], tmp_path)
    return path, rebuilt


def test_a_passing_run_records_the_rebuilt_plans_goldens_without_letting_boxes_creep(tmp_path):
    path, rebuilt = _rebuild_observed(tmp_path, ["a.jpg", "b.jpg"])
    [line] = golden_update.record_rebuilds(tmp_path, run_passed=True)
    assert "recorded the rebuilt plan's goldens" in line and rebuilt.plan_sha256 in line
    stored = goldens.load_golden(_model(rebuilt), path)
    assert stored.engine == rebuilt  # the next rebuild is judged against this plan
    assert stored.images == {"a.jpg": [PERSON], "b.jpg": [OTHER]}  # boxes within tolerance stay
    assert golden_update.pending(tmp_path) == []


@pytest.mark.parametrize("passed, images, why", [
    (False, ["a.jpg", "b.jpg"], "the run did not pass"),
    (True, ["a.jpg"], "b.jpg were not measured"),
])
def test_a_rebuilt_plans_goldens_are_not_recorded_from_a_failed_or_partial_run(
        tmp_path, passed, images, why):
    path, _ = _rebuild_observed(tmp_path, images)
    before = path.read_bytes()
    [line] = golden_update.record_rebuilds(tmp_path, run_passed=passed)
    assert "NOT recorded" in line and why in line
    assert path.read_bytes() == before and golden_update.pending(tmp_path) == []


@pytest.mark.parametrize("change", [
    {"tensorrt_version": "10.3.0"}, {"precision": "int8"}, {"source_model_sha256": "9" * 64},
    {"tensorrt_version": ""},  # unknown: a rebuild cannot be told from another build
])
def test_a_plan_built_otherwise_is_no_rebuild_and_is_refused(tmp_path, change):
    built = replace(FP16, source_model_sha256="5" * 64)
    path = _golden(tmp_path, {"a.jpg": [PERSON]}, _model(built))
    other = replace(built, plan_sha256="f" * 64, **change)
    assert not other.rebuild_of(built)
    with pytest.raises(goldens.GoldenError, match="another engine"):
        goldens.load_golden(_model(other), path)


def test_an_engine_that_cannot_be_identified_neither_records_nor_judges(tmp_path):
    path = _golden(tmp_path, {"a.jpg": [PERSON]}, _model(FP16))
    unknown = _model(engine.EngineIdentity(unreadable="an external server"))
    with pytest.raises(goldens.GoldenError, match="cannot be identified: an external server"):
        goldens.load_golden(unknown, path)
    with pytest.raises(goldens.GoldenError, match="cannot record goldens"):
        golden_update.observe(unknown, "external", "a.jpg", [PERSON], tmp_path)


def test_a_new_run_discards_the_last_runs_candidates(tmp_path):
    golden_update.observe(_model(), "sample_1", "a.jpg", [PERSON], tmp_path)
    golden_update.write_diff(_model().identity, ["x"], tmp_path)
    golden_update.discard_candidates(tmp_path)
    assert golden_update.pending(tmp_path) == [] and list(tmp_path.iterdir()) == []


# The engine manifest tao/ writes beside a plan.

def _trt_repo(tmp_path: Path, plan: bytes = b"plan bytes", manifest: dict | None = None,
              ) -> tuple[Path, ModelConfig]:
    version = tmp_path / "repo" / "peoplenet" / "1"
    version.mkdir(parents=True)
    (version / "model.plan").write_bytes(plan)
    if manifest is not None:
        (version / engine.MANIFEST_NAME).write_text(json.dumps(manifest))
    return tmp_path / "repo", ModelConfig(name="peoplenet", platform="tensorrt_plan")


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_the_engine_is_the_plans_sha256_and_what_the_manifest_says(tmp_path):
    repo, config = _trt_repo(tmp_path, manifest={
        "format": 1, "plan_sha256": _sha(b"plan bytes"), "tensorrt_version": "8.6.2",
        "precision": "int8", "source_model": {"file": "m.onnx", "sha256": "cc" * 32,
                                              "ngc_version": "nvidia/tao/peoplenet:v2.6"}})
    found = engine.read_engine(repo, config)
    assert found == engine.EngineIdentity(_sha(b"plan bytes"), "8.6.2", "int8",
                                          "nvidia/tao/peoplenet:v2.6", "cc" * 32)


def test_a_plan_without_manifest_is_still_told_apart_by_its_sha256(tmp_path):
    repo, config = _trt_repo(tmp_path)
    assert engine.read_engine(repo, config) == engine.EngineIdentity(_sha(b"plan bytes"))


def test_a_manifest_of_another_plan_is_refused(tmp_path):
    repo, config = _trt_repo(tmp_path, manifest={"plan_sha256": _sha(b"older plan")})
    with pytest.raises(engine.EngineManifestError, match="replaced without its manifest"):
        engine.read_engine(repo, config)


def test_unknown_manifest_values_are_not_compared(tmp_path):
    repo, config = _trt_repo(tmp_path, manifest={"plan_sha256": _sha(b"plan bytes"),
                                                 "tensorrt_version": "unknown"})
    assert engine.read_engine(repo, config).tensorrt_version == ""


def test_models_without_a_plan_have_no_engine_and_external_servers_an_unknown_one(tmp_path):
    assert engine.read_engine(tmp_path, ModelConfig(name="peoplenet", backend="python")) == \
        engine.EngineIdentity()
    assert engine.read_engine(None, ModelConfig(name="peoplenet", platform="tensorrt_plan")) \
        .unreadable


def test_the_manifest_tao_writes_is_the_engine_the_suite_reads(tmp_path):
    # tao/engine_manifest.py (run on the device) and pnsuite.repository.engine agree.
    repo, config = _trt_repo(tmp_path, plan=b"an int8 plan")
    version = repo / "peoplenet" / "1"
    source = tmp_path / "resnet34_peoplenet_int8.onnx"
    source.write_bytes(b"onnx bytes")
    subprocess.run([sys.executable, str(PROJECT_ROOT / "tao" / "engine_manifest.py"), "--output",
                    str(version / engine.MANIFEST_NAME), "--plan", str(version / "model.plan"),
                    "--source-model", str(source), "--ngc-version", "nvidia/tao/peoplenet:v2.6",
                    "--tensorrt-version", "10.3.0", "--precision", "int8", "--converter",
                    "trtexec", "--converter-command", "trtexec --int8", "--device", "Orin"],
                   check=True)
    assert engine.read_engine(repo, config) == engine.EngineIdentity(
        _sha(b"an int8 plan"), "10.3.0", "int8", "nvidia/tao/peoplenet:v2.6", _sha(b"onnx bytes"))

