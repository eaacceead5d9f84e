"""A model that answers like a broken engine is caught: NaN in part of the grid fails the
functional suite naming the tensor, the cells and the image; a model that finds nobody
fails its benchmark instead of being measured green. The broken answers come from the
stand-in's test-only `broken_answers` parameter; the checks themselves read only the
tensors, as they do on TensorRT."""

from __future__ import annotations

from pathlib import Path

import pytest

from pnsuite.client.peoplenet import infer_images
from pnsuite.detection import detectnet
from pnsuite.measure.answer_check import WrongAnswers, check_answers
from pnsuite.paths import CAPTURE_IMAGE, PROJECT_ROOT
from pnsuite.repository import model_config

# slow: child sessions on broken models
pytestmark = pytest.mark.slow

EMBEDDED = PROJECT_ROOT / "model_repos" / "embedded"


def _broken_repo(tmp_path: Path, how: str) -> Path:
    return model_config.write_variant(EMBEDDED / "sample_2_dynamic_batching",
                                      tmp_path / f"answers_{how}",
                                      parameters={"broken_answers": how})


def test_nan_in_part_of_the_grid_names_the_tensor_the_cells_and_the_image(make_server,
                                                                          tmp_path):
    server = make_server(_broken_repo(tmp_path, "nan"))
    with pytest.raises(detectnet.NonFiniteOutput) as err:
        infer_images(server.grpc_url, [detectnet.load_image(CAPTURE_IMAGE)],
                     sources=[CAPTURE_IMAGE.name])
    message = str(err.value)
    assert f"{detectnet.COV_NAME}: 6 non-finite values for {CAPTURE_IMAGE.name}" in message
    assert "(0,10,20)" in message and "(0,11,22)" in message, message


def test_a_model_that_finds_nobody_fails_the_answer_check(make_server, tmp_path):
    server = make_server(_broken_repo(tmp_path, "zeros"))
    with pytest.raises(WrongAnswers, match="found 0 boxes .* goldens .* have 5"):
        check_answers(server.grpc_url, "peoplenet-standin-hog")
    with pytest.raises(WrongAnswers, match=r"the same coverage \(0.0\) in every cell"):
        check_answers(server.grpc_url, "an-identity-without-goldens")


def test_a_model_that_finds_nobody_is_not_benchmarked_green(pytester, monkeypatch, tmp_path):
    monkeypatch.setenv("PYTHONPATH", str(PROJECT_ROOT))  # the pytest layer is not installed
    repo = _broken_repo(tmp_path, "zeros")
    result = pytester.runpytest_subprocess(
        str(PROJECT_ROOT / "tests" / "perf" / "test_benchmarks.py"), "-k", "c1",
        "-p", "no:cacheprovider", f"--rootdir={PROJECT_ROOT}", "--triton-launcher", "embedded",
        f"--triton-repos={repo}", "--benchmark-disable", timeout=300)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*found 0 boxes (0 confident) in capture.jpg*"])
