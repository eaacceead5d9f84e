"""The test tiers: a plain run is the fast tier, `--tier ci` adds the tests marked slow,
`--tier all` (or `--all`) those marked extended too; a marker expression, or a test file or
node id named on the command line, selects tests whatever the tier. Checked in child pytest sessions with the suite's plugin
(no server starts: the tests below use none)."""

import pytest

from fixtures.tiers import markers_left_out, named_files
from pnsuite.paths import EMBEDDED_REPOS, PROJECT_ROOT

TESTS = """
import pytest

def test_quick():
    pass

@pytest.mark.slow
def test_long():
    pass

@pytest.mark.extended
def test_stressed():
    pass

@pytest.mark.slow
@pytest.mark.parametrize("n", [1, 2])
def test_each(n):
    pass
"""


@pytest.fixture
def session(pytester, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(PROJECT_ROOT))
    for name in ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID",
                 "TRITON_SUITE_TIER"):
        monkeypatch.delenv(name, raising=False)
    pytester.makepyfile(test_tiered=TESTS)

    def run(*options: str, env_tier: str | None = None):
        if env_tier is not None:
            monkeypatch.setenv("TRITON_SUITE_TIER", env_tier)
        return pytester.runpytest_subprocess(
            "-p", "fixtures.plugin", "-p", "no:cacheprovider", "-p", "no:randomly",
            f"--triton-repos={EMBEDDED_REPOS / 'sample_1_instances'}",
            *options, timeout=120)
    return run


def test_a_plain_run_is_the_fast_tier_and_says_what_it_left_out(session):
    result = session()
    result.assert_outcomes(passed=1, deselected=4)
    result.stdout.fnmatch_lines(["test tier: fast*--tier ci runs more*",
                                 "4 test(s) outside the fast tier not run: --tier ci*"])


@pytest.mark.parametrize("tier, passed", [("ci", 4), ("all", 5)])
def test_each_tier_adds_to_the_one_before(session, tier, passed):
    session(f"--tier={tier}").assert_outcomes(passed=passed, deselected=5 - passed)


def test_all_is_the_whole_suite_and_the_environment_sets_the_tier_for_ci(session):
    session("--all").assert_outcomes(passed=5)
    session(env_tier="ci").assert_outcomes(passed=4, deselected=1)


def test_a_marker_expression_a_file_or_a_node_id_selects_whatever_the_tier(session):
    session("-m", "slow").assert_outcomes(passed=3, deselected=2)
    session("test_tiered.py").assert_outcomes(passed=5)
    session("test_tiered.py::test_stressed").assert_outcomes(passed=1)
    session("test_tiered.py::test_each").assert_outcomes(passed=2)
    session(".").assert_outcomes(passed=1, deselected=4)  # a directory is tiered


def test_an_unknown_tier_is_refused_naming_the_tiers(session):
    result = session("--tier=quick")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--tier must be one of fast, ci, all, got 'quick'*"])


def test_which_markers_a_tier_leaves_out():
    assert markers_left_out("fast", "") == ("slow", "extended")
    assert markers_left_out("fast", "not docker") == ("slow", "extended")
    assert markers_left_out("fast", "slow or functional") == ("extended",)
    assert markers_left_out("ci", "") == ("extended",)
    assert markers_left_out("all", "") == ()


def test_the_files_named_alone_or_in_a_node_id(tmp_path):
    (tmp_path / "tests").mkdir()
    for name in ("a.py", "b.py"):
        (tmp_path / "tests" / name).touch()
    args = ["tests/a.py::test_x[1]", "tests/b.py", "tests", "tests/missing.py"]
    assert named_files(args, tmp_path) == {tmp_path / "tests" / "a.py",
                                           tmp_path / "tests" / "b.py"}
