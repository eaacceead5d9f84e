"""Time windows of the measurement engine: the request count calibrated to the window's
seconds, the stable tail, and plans that cannot measure refused."""

import pytest

from pnsuite.measure.windows import WindowPlan, WindowPlanError, stable_tail


def test_a_fast_and_a_slow_model_get_the_same_seconds_per_window():
    plan = WindowPlan(seconds=0.5)
    assert plan.requests_per_window(1000.0, 16) == 500   # a 1-ms model
    assert plan.requests_per_window(10.0, 1) == 5         # a 100-ms model
    assert plan.requests_per_window(10.0, 16) == 16       # at least one per worker


def test_a_rate_that_could_not_be_measured_sends_one_request_per_worker():
    assert WindowPlan().requests_per_window(0.0, 4) == 4
    assert WindowPlan().requests_per_window(float("inf"), 4) == 4


def test_the_tail_is_stable_when_its_windows_agree_within_the_tolerance():
    plan = WindowPlan(stable=3, tolerance=0.10)
    assert not stable_tail([100.0, 101.0], plan)              # too few windows yet
    assert stable_tail([50.0, 100.0, 105.0, 109.0], plan)     # a slow first window is past
    assert not stable_tail([100.0, 105.0, 111.0], plan)       # 11% apart
    assert not stable_tail([0.0, 0.0, 0.0], plan)             # nothing served


@pytest.mark.parametrize("bad", [dict(seconds=0), dict(stable=0), dict(stable=5, max_windows=4),
                                 dict(tolerance=0), dict(tolerance=1.5), dict(warmup_s=-1)])
def test_a_plan_that_cannot_measure_is_refused(bad):
    with pytest.raises(WindowPlanError):
        WindowPlan(**bad)


def test_plans_are_built_with_keywords():
    with pytest.raises(TypeError):
        WindowPlan(1.0, 3)  # type: ignore[misc]
