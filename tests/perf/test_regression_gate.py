"""The gate end to end on real servers: an A/B comparison of a repository against itself
is never red, and against a copy whose model does about twice the work it is red.

The slowed copy uses the CPU stand-in's own slow-down knob (`extra_work`: every image
scanned again). Only the stand-in honours it: TensorRT PeopleNet and the GPU stand-in
ignore it, so there this test skips, saying so, instead of failing a Jetson workflow.
The gate's error rates on slowdowns the gate cannot see are measured in
benchmarks/gate_decisions (docs/perf-and-gate.md), not here.
"""

import pytest

from pnsuite.perf import ab, verdicts
from pnsuite.repository import model_config

EXTRA_WORK = "1.0"  # the whole image scanned again: about twice the HOG time
#: few pairs: an unchanged build may end inconclusive here; it must never end red
PLAN = ab.Plan(min_pairs=3, max_pairs=5)


@pytest.fixture
def knob_repo(instances_repo, tmp_path):
    """The instances repo with one instance (a server stops sooner with one stub), where
    its model honours the stand-in's slow-down knob."""
    config = model_config.read_config(instances_repo)
    if not model_config.is_standin(config):
        pytest.skip(f"{instances_repo} serves {model_config.model_identity(config)}, which "
                    "ignores the CPU stand-in's extra_work knob: the gate's self-test needs a "
                    "model it can slow down (its error rates: benchmarks/gate_decisions)")
    return model_config.write_variant(instances_repo, tmp_path / "one" / instances_repo.name,
                                      instances=1)


def test_ab_of_a_repository_against_itself_is_not_red(ab_compare, knob_repo):
    result = ab_compare(knob_repo, knob_repo, PLAN)
    assert result.pairs, f"every pair was disturbed, nothing to judge: {result.left_out}"
    assert result.verdict != verdicts.REGRESSION, result.rows


def test_ab_against_a_model_doing_twice_the_work_is_red(ab_compare, knob_repo, tmp_path):
    slowed = model_config.write_variant(knob_repo, tmp_path / "slowed" / knob_repo.name,
                                        parameters={"extra_work": EXTRA_WORK})
    result = ab_compare(knob_repo, slowed, PLAN)
    assert result.verdict == verdicts.REGRESSION, (result.rows, result.left_out)
    round_time = next(r for r in result.rows if r.comparison.metric == "round_s")
    assert round_time.verdict == verdicts.REGRESSION and round_time.comparison.ratio > 1.5
