"""A rebuilt engine on a real server (the Jetson issue "goldens that survive a rebuilt
engine"): a plan rebuilt from the same source model, precision and TensorRT version whose
boxes move by less than the matching tolerance passes the golden test and has its goldens
recorded under its own sha256; a rebuild that moves some boxes by more fails, names the
moved boxes, writes an overlay and records nothing, though another image passed. The rules
are unit-tested in tests/unit/test_golden_update.py; this runs them end to end in child
pytest sessions of tests/functional/test_golden_detections.py.

The model is the suite's CPU stand-in (one instance, embedded launcher, whatever this
session is configured with) in a repository laid out as tao/ leaves a TensorRT one: a real
version directory holding `model.plan` (bytes the python backend ignores; what the suite
hashes) and the `engine.json` tao/engine_manifest.py writes beside it. A "rebuild" is new
plan bytes with the same source, precision and TensorRT, and a `model.py` whose boxes move.

The suite reads a plan only from a `tensorrt_plan` config (`pnsuite.repository.engine`),
and Triton will not serve a model.py under one; so the child sessions load a plugin that
makes the suite read this python-backend model's plan as it reads a TensorRT model's: the
plan's sha256 checked against engine.json, and everything after that (goldens, rebuild
rule, recording at session finish) is the suite's own code.

Each child session serves two golden images (-k): the goldens recorded from them are all
a rebuild must be measured on (it has to be, on every image its goldens hold, to be
recorded), and the failing rebuild moves only the confident boxes (score >= 0.9): those of
capture.jpg, while basketball1_small.jpg passes and leaves a candidate the failed run must
not record."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from pnsuite.detection import box_matching, detectnet, golden_update, goldens
from pnsuite.models import identities
from pnsuite.paths import CAPTURE_IMAGE, EMBEDDED_REPOS, PROJECT_ROOT
from pnsuite.repository import model_config

# slow: three child sessions, each with its own server
pytestmark = [pytest.mark.functional, pytest.mark.slow]

GOLDEN_TEST = PROJECT_ROOT / "tests" / "functional" / "test_golden_detections.py"
GOLDEN_NAME = f"{identities.CPU_STANDIN}.json"
TENSORRT_VERSION = "8.6.2"
PRECISION = "fp16"
NGC_VERSION = "nvidia/tao/peoplenet:pruned_quantized_decrypted_v2.3.4"

#: network-input pixels every box moves in the rebuild within tolerance: on capture.jpg
#: (scaled by 0.8 into the network input) 2.5 image pixels, under the 3 px floor of
#: box_matching.BOX_EDGE_TOLERANCE_MIN_PX
SMALL_SHIFT_PX = 2.0
#: fraction of its width each box scored at least LARGE_SHIFT_MIN_SCORE moves in the
#: rebuild beyond tolerance: three times the 5% edge tolerance (box_matching.
#: BOX_EDGE_TOLERANCE), still IoU 0.74, so it is matched to its golden and listed as moved
#: (OFF), not as lost and found
LARGE_SHIFT_FRACTION = 0.15
LARGE_SHIFT_MIN_SCORE = 0.9
#: the golden images the child sessions serve: the first has boxes scored above
#: LARGE_SHIFT_MIN_SCORE, the second none
IMAGES = (CAPTURE_IMAGE.name, "basketball1_small.jpg")

#: the child sessions' plugin: a python-backend model's model.plan read as a TensorRT plan's
AS_PLAN_PLUGIN = '''"""Written by tests/functional/test_rebuilt_engine_goldens.py (tests only): the
suite reads the stand-in's model.plan and engine.json as it reads a TensorRT model's."""
from pnsuite.detection import goldens
from pnsuite.repository import engine


def _read_engine(repo, config, model="peoplenet"):
    as_plan = type(config)()
    as_plan.CopyFrom(config)
    as_plan.platform = "tensorrt_plan"
    as_plan.default_model_filename = engine.DEFAULT_PLAN_NAME
    return engine.read_engine(repo, as_plan, model)


goldens.read_engine = _read_engine
'''

MOVED_MODEL = '''"""The stand-in as a rebuilt engine answers: every box scored at least
{min_score} moved right by {what}.
Written by tests/functional/test_rebuilt_engine_goldens.py (tests only)."""
from dataclasses import replace

from pnsuite.models.standin import TritonPythonModel as _StandIn


def _moved(det):
    if det.score < {min_score}:
        return det
    dx = {dx}
    return replace(det, x1=det.x1 + dx, x2=det.x2 + dx)


class TritonPythonModel(_StandIn):
    def initialize(self, args):
        super().initialize(args)
        detect = self._detector.detect
        self._detector.detect = lambda chw: [_moved(d) for d in detect(chw)]
'''


def _build(repo: Path, plan: bytes, source_model: Path, model_py: str) -> str:
    """Place a plan in `repo` as tao/lib.sh's place_plan does (the plan, then engine.json
    written by tao/engine_manifest.py), with `model_py` beside it; returns its sha256."""
    version = repo / "peoplenet" / "1"
    (version / "engine.json").unlink(missing_ok=True)
    (version / "model.plan").write_bytes(plan)
    (version / "model.py").write_text(model_py)
    subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "tao" / "engine_manifest.py"),
         "--plan", str(version / "model.plan"), "--output", str(version / "engine.json"),
         "--source-model", str(source_model), "--ngc-version", NGC_VERSION,
         "--tensorrt-version", TENSORRT_VERSION, "--precision", PRECISION,
         "--converter", "trtexec", "--converter-command", "trtexec --onnx=... --fp16",
         "--device", "a test's CPU"], check=True)
    return json.loads((version / "engine.json").read_text())["plan_sha256"]


def _repository(tmp_path: Path) -> Path:
    """The one-instance stand-in with a real version directory (no symlink)."""
    repo = model_config.write_variant(EMBEDDED_REPOS / "sample_1_instances",
                                      tmp_path / "rebuilt", instances=1,
                                      header="for tests/functional/test_rebuilt_engine_goldens.py")
    version = repo / "peoplenet" / "1"
    version.unlink()  # write_variant links the original's; a plan needs its own
    version.mkdir()
    return repo


def _run(pytester, goldens_dir: Path, repo: Path, *options: str):
    return pytester.runpytest_subprocess(
        str(GOLDEN_TEST), "-k", f"test_detections_match_the_golden and "
                                f"({' or '.join(Path(i).stem for i in IMAGES)})",
        "-p", "no:cacheprovider", "-p", "as_plan", f"--rootdir={PROJECT_ROOT}",
        "--triton-launcher", "embedded", f"--triton-repos={repo}",
        f"--goldens-dir={goldens_dir}", *options, timeout=300)


def _moved_lines(outlines: list[str]) -> list[str]:
    return [line for line in outlines if "OFF  " in line]


@pytest.mark.usefixtures("embedded_launcher")
def test_a_rebuild_within_tolerance_is_recorded_and_one_beyond_it_fails(pytester, monkeypatch,
                                                                        tmp_path):
    monkeypatch.setenv("PYTHONPATH", str(PROJECT_ROOT))  # the pytest layer is not installed
    pytester.makepyfile(as_plan=AS_PLAN_PLUGIN)  # the child's cwd: importable with -p
    scale = detectnet.letterbox(detectnet.load_image(CAPTURE_IMAGE))[1].scale
    assert SMALL_SHIFT_PX / scale < box_matching.BOX_EDGE_TOLERANCE_MIN_PX, \
        "the small rebuild would move boxes beyond tolerance"
    source = tmp_path / "peoplenet.onnx"
    source.write_bytes(b"the source model every plan here is built from")
    repo = _repository(tmp_path)
    directory = tmp_path / "goldens"
    directory.mkdir()
    path = directory / GOLDEN_NAME
    original = (EMBEDDED_REPOS / "sample_1_instances" / "peoplenet" / "1" / "model.py")

    # 1-2. The first plan, and its goldens recorded by an update run.
    first = _build(repo, b"plan 1 of PeopleNet", source, original.read_text())
    _run(pytester, directory, repo, "--update-goldens").assert_outcomes(passed=2)
    recorded = goldens.GoldenFile.read(path)
    assert recorded.engine.plan_sha256 == first
    assert (recorded.engine.tensorrt_version, recorded.engine.precision,
            recorded.engine.ngc_version) == (TENSORRT_VERSION, PRECISION, NGC_VERSION)
    assert sorted(recorded.images) == sorted(IMAGES) and all(recorded.images.values())
    confident = [d for d in recorded.images[CAPTURE_IMAGE.name]
                 if d.score >= LARGE_SHIFT_MIN_SCORE]
    assert confident and all(d.score < LARGE_SHIFT_MIN_SCORE
                             for d in recorded.images[IMAGES[1]]), recorded.images

    # 3. Rebuilt: another plan, its boxes moved within tolerance. It is judged by the first
    # plan's goldens, passes, and they are recorded under its sha256, boxes as they were.
    second = _build(repo, b"plan 2 of PeopleNet: other tactics", source,
                    MOVED_MODEL.format(what=f"{SMALL_SHIFT_PX:g} px", dx=SMALL_SHIFT_PX,
                                       min_score=0))
    assert second != first
    passed = _run(pytester, directory, repo)
    passed.assert_outcomes(passed=2)
    passed.stdout.fnmatch_lines([
        "*golden detections of a rebuilt plan*",
        *(f"{image}: rebuilt plan {second[:12]} judged by the goldens of plan {first[:12]} "
          f"(same model, precision, TensorRT)" for image in sorted(IMAGES)),
        f"{identities.CPU_STANDIN}: recorded the rebuilt plan's goldens in {path} "
        f"(plan_sha256: {first} vs {second}; every box within the previous plan's tolerance)"])
    rekeyed = goldens.GoldenFile.read(path)
    assert rekeyed.engine.plan_sha256 == second
    assert rekeyed.engine.rebuild_of(recorded.engine)
    assert rekeyed.images == recorded.images, "boxes within tolerance must keep their place"
    assert not golden_update.pending(directory)
    before = path.read_bytes()

    # 4. Rebuilt again, its confident boxes moved beyond tolerance: judged by the second
    # plan's goldens, capture.jpg fails naming each moved box, with an overlay; the other
    # image passes, and still nothing is recorded.
    third = _build(repo, b"plan 3 of PeopleNet: a broken build", source,
                   MOVED_MODEL.format(what=f"{LARGE_SHIFT_FRACTION:g} of its width",
                                      dx=f"{LARGE_SHIFT_FRACTION} * (det.x2 - det.x1)",
                                      min_score=LARGE_SHIFT_MIN_SCORE))
    failed = _run(pytester, directory, repo)
    failed.assert_outcomes(passed=1, failed=1)
    failed.stdout.fnmatch_lines([
        f"*{CAPTURE_IMAGE.name} on {identities.CPU_STANDIN} *: detections differ",
        "*golden detections of a rebuilt plan*",
        *(f"{image}: rebuilt plan {third[:12]} judged by the goldens of plan {second[:12]} *"
          for image in sorted(IMAGES)),
        f"{identities.CPU_STANDIN}: the rebuilt plan's goldens were NOT recorded: the run did "
        f"not pass"])
    moved = _moved_lines(failed.outlines)
    for det in rekeyed.images[CAPTURE_IMAGE.name]:
        named = any(str(det) in line for line in moved)
        assert named == (det.score >= LARGE_SHIFT_MIN_SCORE), f"{det}: moved lines {moved}"
    overlays = re.findall(r"overlay \(expected blue, got green\): (\S+\.png)",
                          "\n".join(failed.outlines))
    assert overlays and Path(overlays[0]).is_file(), failed.outlines
    assert path.read_bytes() == before, "a failed rebuild changed the goldens"
    assert goldens.GoldenFile.read(path).engine.plan_sha256 == second
    assert not golden_update.pending(directory), "a failed rebuild left a candidate"
