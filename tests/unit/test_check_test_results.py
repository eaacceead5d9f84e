"""ci/check_test_results.py, the CI guard that the expected tests ran: run as CI runs it
(a subprocess) on JUnit XML written here, and on JUnit XML a real pytest run writes."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from xml.sax.saxutils import quoteattr

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHECKER = ROOT / "ci" / "check_test_results.py"

DOCKER_SKIP = "the docker launcher cannot run here: Docker is not reachable"


def _case(name: str, outcome: str = "passed", message: str = "") -> str:
    """One <testcase> as pytest's --junitxml writes it."""
    attr = quoteattr(message)
    body = {
        "passed": "",
        "failed": f"<failure message={attr}>AssertionError</failure>",
        "errored": f"<error message={attr}>fixture failed</error>",
        "skipped": f'<skipped type="pytest.skip" message={attr}>x.py:1: skipped</skipped>',
    }[outcome]
    return f'<testcase classname="tests.unit.test_x" name="{name}" time="0.01">{body}</testcase>'


def _junit(tmp_path: Path, *cases: str) -> Path:
    path = tmp_path / "results.xml"
    path.write_text('<?xml version="1.0" encoding="utf-8"?><testsuites name="pytest tests">'
                    f'<testsuite name="pytest">{"".join(cases)}</testsuite></testsuites>')
    return path


def _expected(tmp_path: Path, min_passed: int = 1, skips: tuple[str, ...] = ()) -> Path:
    path = tmp_path / "expected.json"
    path.write_text(json.dumps({"ci": {
        "min_passed": min_passed,
        "allowed_skips": [{"pattern": p, "why": "cannot run on CI"} for p in skips]}}))
    return path


def check(junit: Path, expected: Path | None, run: str = "ci") -> subprocess.CompletedProcess:
    args = [sys.executable, str(CHECKER), "--run", run, "--junit", str(junit)]
    if expected is not None:
        args += ["--expected", str(expected)]
    return subprocess.run(args, capture_output=True, text=True, timeout=60)


def test_a_run_that_passed_is_accepted_with_a_summary(tmp_path):
    out = check(_junit(tmp_path, _case("test_a"), _case("test_b")), _expected(tmp_path, 2))
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.splitlines()[0] == ("check_test_results ci: 2 passed (min 2), 0 skipped "
                                          "(0 allowed, 0 not), 0 failed, 0 errors")


@pytest.mark.parametrize("outcome,word", [("failed", "FAILED"), ("errored", "ERROR")])
def test_a_failed_or_errored_test_fails_the_check_naming_it(tmp_path, outcome, word):
    junit = _junit(tmp_path, _case("test_a"), _case("test_b[c4]", outcome, "assert 3 == 4"))
    out = check(junit, _expected(tmp_path, 1))
    assert out.returncode == 1
    assert f"{word} tests.unit.test_x.test_b[c4]: assert 3 == 4" in out.stdout


def test_a_teardown_error_beside_a_pass_is_not_counted_as_passed(tmp_path):
    case = ('<testcase classname="tests.unit.test_x" name="test_a">'
            '<error message="failed on teardown with &quot;leak&quot;">leak</error></testcase>')
    out = check(_junit(tmp_path, case), _expected(tmp_path, 0))
    assert out.returncode == 1
    assert "0 passed" in out.stdout and "1 errors" in out.stdout
    assert 'ERROR tests.unit.test_x.test_a: failed on teardown with "leak"' in out.stdout


def test_fewer_passed_than_min_passed_fails_the_check(tmp_path):
    out = check(_junit(tmp_path, _case("test_a"), _case("test_b")), _expected(tmp_path, 3))
    assert out.returncode == 1
    assert "only 2 tests passed, fewer than min_passed 3" in out.stdout


def test_an_empty_run_fails_even_with_min_passed_0(tmp_path):
    out = check(_junit(tmp_path), _expected(tmp_path, 0))
    assert out.returncode == 1
    assert "no tests at all" in out.stdout


def test_an_allowed_skip_is_accepted_and_reported_with_why(tmp_path):
    junit = _junit(tmp_path, _case("test_a"), _case("test_docker", "skipped", DOCKER_SKIP))
    out = check(junit, _expected(tmp_path, 1, skips=("^the docker launcher cannot run here: ",)))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "1 skipped (1 allowed, 0 not)" in out.stdout
    assert f"allowed skip x1: {DOCKER_SKIP}  [why: cannot run on CI]" in out.stdout


def test_a_skip_no_pattern_allows_fails_the_check_naming_the_tests(tmp_path):
    message = "shellcheck is not installed (apt-get install shellcheck)"
    junit = _junit(tmp_path, _case("test_a"), _case("test_docker", "skipped", DOCKER_SKIP),
                   _case("test_sc1", "skipped", message), _case("test_sc2", "skipped", message))
    out = check(junit, _expected(tmp_path, 1, skips=("^the docker launcher cannot run here: ",)))
    assert out.returncode == 1
    assert "3 skipped (1 allowed, 2 not)" in out.stdout
    assert ("SKIPPED, not allowed on this run (2: tests.unit.test_x.test_sc1, "
            f"tests.unit.test_x.test_sc2): {message}") in out.stdout
    assert "FAILED (1 problems)" in out.stdout


def test_an_unknown_run_is_an_error_naming_the_known_ones(tmp_path):
    out = check(_junit(tmp_path, _case("test_a")), _expected(tmp_path), run="nightly")
    assert out.returncode == 2
    assert "unknown run 'nightly'" in out.stderr and "has ci" in out.stderr


def test_a_missing_or_cut_short_junit_file_is_an_error(tmp_path):
    out = check(tmp_path / "never-written.xml", _expected(tmp_path))
    assert out.returncode == 2 and "cannot read the JUnit XML" in out.stderr
    cut = tmp_path / "cut.xml"
    cut.write_text('<?xml version="1.0"?><testsuites><testsuite><testcase name="a"')
    out = check(cut, _expected(tmp_path))
    assert out.returncode == 2 and "is not valid XML" in out.stderr


def test_an_allowed_skip_without_why_is_an_error(tmp_path):
    expected = tmp_path / "expected.json"
    expected.write_text(json.dumps({"ci": {"min_passed": 0,
                                           "allowed_skips": [{"pattern": "^GPU"}]}}))
    out = check(_junit(tmp_path, _case("test_a")), expected)
    assert out.returncode == 2 and 'non-empty "why"' in out.stderr


def test_the_junit_xml_of_a_real_pytest_run_is_read(tmp_path):
    """The format is pytest's own, not only the one written above."""
    (tmp_path / "test_sample.py").write_text(textwrap.dedent("""
        import pytest

        def test_passes():
            pass

        @pytest.mark.parametrize("n", [1, 2])
        def test_param(n):
            assert n == 1

        def test_skips():
            pytest.skip("the docker launcher cannot run here: no daemon")

        @pytest.fixture
        def broken():
            raise RuntimeError("no server")

        def test_setup_error(broken):
            pass
    """))
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    junit = tmp_path / "real.xml"
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                    f"--junitxml={junit}", "test_sample.py"], cwd=tmp_path,
                   capture_output=True, timeout=120)
    out = check(junit, _expected(tmp_path, 2, skips=("^the docker launcher cannot run here: ",)))
    assert out.returncode == 1
    assert out.stdout.splitlines()[0] == ("check_test_results ci: 2 passed (min 2), 1 skipped "
                                          "(1 allowed, 0 not), 1 failed, 1 errors")
    assert "FAILED test_sample.test_param[2]: assert 2 == 1" in out.stdout
    assert "ERROR test_sample.test_setup_error: failed on setup with" in out.stdout


@pytest.mark.parametrize("run,message,allowed", [
    ("embedded", DOCKER_SKIP, True),
    ("docker", DOCKER_SKIP, False),  # there TRITON_SUITE_DOCKER_REQUIRED=1: it must run
    ("embedded", "GPU (CUDA) shared memory needs an NVIDIA GPU and driver: cudaGetDeviceCount "
                 "returned cudaErrorNoDevice", True),
    ("docker", "GPU (CUDA) shared memory needs tritonclient's CUDA utils with cuda-python 12", True),
    # .ci/run installs the static tools, and the CI machine is no Jetson and has no GPU.
    ("embedded", "shellcheck is not installed (apt-get install shellcheck)", False),
    ("embedded", "no Python here can import onnx (bash ci/install-static-tools.sh makes a "
                 "tools venv with it)", False),
    ("embedded", "perf_analyzer not found: it ships in the tritonclient==2.51.0 wheel", False),
    ("embedded", "tegrastats is installed here: the missing-tool message cannot be seen", False),
    ("docker", "this engine has the NVIDIA runtime: a GPU request would be served", False),
])
def test_the_ci_expected_results_allow_only_the_skips_ci_can_have(tmp_path, run, message,
                                                                  allowed):
    # ci/expected-results.json's skip rules, with its pass counts (those of a full CI run)
    # left out: this test is about which skips CI may have.
    expected = json.loads((CHECKER.parent / "expected-results.json").read_text())
    for entry in expected.values():
        entry["min_passed"] = 1
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps(expected))
    junit = _junit(tmp_path, _case("test_a"), _case("test_b", "skipped", message))
    out = check(junit, rules, run=run)
    assert out.returncode == (0 if allowed else 1), out.stdout + out.stderr
