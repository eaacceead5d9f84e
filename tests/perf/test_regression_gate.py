"""The gate end to end on real servers: an A/B comparison of a repository against itself
is never red, and against a copy whose model takes twice as long per execution it is red.

The slowed copy wraps the model's execute() to busy-wait as long again as the instance's
cycle (pnsuite/repository/slowed.py): the config, and so everything the gate could read, is
unchanged. Any python-backend model can be slowed so, the CPU stand-in at ~100 ms per image
and the GPU stand-in at milliseconds; a TensorRT plan cannot, and there this test skips,
saying so. The gate's error rates at 15% are measured in benchmarks/gate_decisions
(docs/perf-and-gate.md), not here.
"""

import pytest

from pnsuite.repository import model_config
from pnsuite.repository.slowed import slowable, write_slowed
from pnsuite.verdict import ab, verdicts

#: one look at three pairs: an unchanged build may end inconclusive here, it must never
#: end red; a model twice as slow is red by then (how many pairs a 15% slowdown needs is
#: measured in benchmarks/gate_decisions, not here). The budget lets the three pairs finish:
#: a pair of the twice-as-slow model, its references and windows twice as long, takes
#: minutes on 2 cores
PLAN = ab.Plan(min_pairs=3, max_pairs=3, budget_s=1200.0)


@pytest.fixture
def knob_repo(instances_repo, tmp_path):
    """The instances repo with one instance (a server stops sooner with one stub), if its
    model is a model.py that can be slowed."""
    if not slowable(instances_repo):
        config = model_config.read_config(instances_repo)
        pytest.skip(f"{instances_repo} serves {model_config.model_identity(config)}, which has "
                    "no model.py to slow down: the gate's self-test needs a python-backend "
                    "model (its error rates: benchmarks/gate_decisions)")
    return model_config.write_variant(instances_repo, tmp_path / "one" / instances_repo.name,
                                      instances=1)


# slow: the A/A decision takes minutes; the fast tier checks the gate red on a slow model
@pytest.mark.slow
def test_ab_of_a_repository_against_itself_is_not_red(ab_compare, knob_repo):
    result = ab_compare(knob_repo, knob_repo, PLAN)
    assert result.pairs, f"every pair was disturbed, nothing to judge: {result.left_out}"
    assert result.verdict != verdicts.REGRESSION, result.rows


def test_ab_against_a_model_twice_as_slow_is_red(ab_compare, knob_repo, tmp_path):
    slowed = write_slowed(knob_repo, tmp_path / "slowed" / knob_repo.name, 1.0)
    result = ab_compare(knob_repo, slowed, PLAN)
    assert result.verdict == verdicts.REGRESSION, (result.rows, result.left_out)
    gated = next(r for r in result.rows if r.comparison.metric == verdicts.GATED)
    assert gated.verdict == verdicts.REGRESSION, gated
