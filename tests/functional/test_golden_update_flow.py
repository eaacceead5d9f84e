"""--update-goldens on a real pytest session: an update that loses a confident box fails
and leaves the goldens as they were; accepting that image by name promotes the candidate,
rewriting only what changed; the goldens then pass a normal run.

The sessions serve the CPU stand-in with the embedded launcher, whatever this session is
configured with (on a board, TensorRT plans on the release install): where that launcher
cannot run, the test skips and says why."""

from __future__ import annotations

import json
import shutil

import pytest

from pnsuite.detection import goldens
from pnsuite.models import identities
from pnsuite.paths import CAPTURE_IMAGE, EMBEDDED_REPOS, GOLDEN_DETECTIONS, PROJECT_ROOT
from pnsuite.store import open_store

# slow: a child session that measures, refuses and accepts an update; the update's rules
# are unit-tested
pytestmark = pytest.mark.slow

GOLDEN_NAME = f"{identities.CPU_STANDIN}.json"
#: where nobody stands in capture.jpg (the sky, top left), with a confident score
GHOST = {"label": "person", "score": 0.95, "box": [20.0, 20.0, 80.0, 180.0]}


def _run(pytester, goldens_dir, *options):
    return pytester.runpytest_subprocess(
        str(PROJECT_ROOT / "tests" / "functional" / "test_golden_detections.py"),
        "-k", "test_detections_match_the_golden", "-p", "no:cacheprovider",
        f"--rootdir={PROJECT_ROOT}", "--triton-launcher", "embedded",
        f"--triton-repos={EMBEDDED_REPOS / 'sample_2_dynamic_batching'}",
        f"--goldens-dir={goldens_dir}", *options, timeout=300)


@pytest.mark.usefixtures("embedded_launcher")
def test_an_update_that_loses_a_confident_box_fails_until_accepted(pytester, monkeypatch,
                                                                  tmp_path):
    monkeypatch.setenv("PYTHONPATH", str(PROJECT_ROOT))  # the pytest layer is not installed
    directory = tmp_path / "goldens"
    directory.mkdir()
    path = directory / GOLDEN_NAME
    shutil.copy(GOLDEN_DETECTIONS / GOLDEN_NAME, path)
    data = json.loads(path.read_text())
    data["images"][CAPTURE_IMAGE.name].append(GHOST)
    path.write_text(json.dumps(data))
    before = path.read_bytes()

    refused = _run(pytester, directory, "--update-goldens")
    refused.assert_outcomes(passed=4, failed=1)
    refused.stdout.fnmatch_lines([f"*{CAPTURE_IMAGE.name}: 6 -> 5 boxes: 1 confident lost*"
                                  f"--accept-golden-change {CAPTURE_IMAGE.name}",
                                  "MISS *person 0.95 [[]20,20,80,180[]]*not found",
                                  "*NOT updated*the run did not pass*"])
    assert path.read_bytes() == before, "a failed update changed the goldens"
    assert (directory / f"{identities.CPU_STANDIN}.candidate.json").is_file()
    assert (directory / f"{identities.CPU_STANDIN}.diff.txt").is_file()

    accepted = _run(pytester, directory, "--update-goldens",
                    "--accept-golden-change", CAPTURE_IMAGE.name)
    accepted.assert_outcomes(passed=5)
    accepted.stdout.fnmatch_lines(["*updated*" + GOLDEN_NAME + "*"])
    updated = goldens.GoldenFile.read(path)
    old = goldens.GoldenFile.read(GOLDEN_DETECTIONS / GOLDEN_NAME)
    assert updated.images == old.images, "the ghost box is still there, or others moved"
    assert not (directory / f"{identities.CPU_STANDIN}.candidate.json").exists()

    # A normal run judges by the new goldens; with a results store, each image's verdict
    # and boxes go there for the fleet.
    store = tmp_path / "results.db"
    _run(pytester, directory, f"--results-store={store}").assert_outcomes(passed=5)
    with open_store(str(store)) as results:
        rows = results.golden_results(identities.CPU_STANDIN)
    assert sorted(r["image"] for r in rows) == sorted(updated.images), rows
    assert {r["verdict"] for r in rows} == {"match"} and all(r["boxes"] for r in rows)
