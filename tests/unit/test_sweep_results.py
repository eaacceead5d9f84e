"""A sweep's answer from its points, without a server: the leaders judged on their
independent runs, the best chosen (the cheaper when noise cannot tell), the journal
summarised, and the files written, the winning config among them."""

from __future__ import annotations

import csv
import json

import pytest
from google.protobuf import text_format

from pnsuite.paths import EMBEDDED_REPOS
from pnsuite.repository import model_config
from pnsuite.sweep.errors import SweepError
from pnsuite.sweep.journal import Journal
from pnsuite.sweep.measure import MAX_ROUND_REQUESTS, PointPlan
from pnsuite.sweep.objectives import parse_objective
from pnsuite.sweep.outputs import write_outputs
from pnsuite.server.launcher import check_server_args
from pnsuite.sweep.points import (Batching, Candidate, PointKey, SweepDocument, SweepPoint,
                                  Variant)
from pnsuite.sweep.runner import (SweepRequest, choose_best, journal_header, judge_candidates,
                                  summarize_journal)
from pnsuite.sweep.space import SweepSpace

REPO = EMBEDDED_REPOS / "sample_1_instances"
CHEAP = PointKey(Variant(1, Batching(False)), 2)
DEAR = PointKey(Variant(3, Batching(True, 100)), 8)
THROUGHPUT = parse_objective("max:throughput")


def point(key: PointKey, throughput: float, p99: float = 50.0) -> SweepPoint:
    return SweepPoint(key, [throughput] * 3, latency_p50_ms=p99 / 2, latency_p99_ms=p99,
                      per_inference_ms={"queue": 1.0, "compute_infer": 9.0},
                      batch_sizes={1: 30}, inferences=30, executions=30)


def test_leaders_far_apart_are_distinct_and_the_faster_is_first():
    judged = judge_candidates([Candidate(CHEAP, [100.0, 102.0, 98.0]),
                               Candidate(DEAR, [150.0, 149.0, 152.0])])
    verdict = judged["best_vs_runner_up"]
    assert [c["label"] for c in judged["candidates"]] == [DEAR.label, CHEAP.label]
    assert verdict["best"] == DEAR.label and verdict["verdict"] == "distinct"
    assert verdict["low"] < verdict["ratio"] < verdict["high"]
    assert verdict["ratio"] == pytest.approx(150.33 / 99.99, rel=1e-3)
    assert verdict["low"] > 1


@pytest.mark.parametrize("cheap, dear", [
    ([100.0, 120.0, 90.0], [110.0, 95.0, 112.0]),  # far within the noise
    ([100.0, 100.0, 100.0], [101.0, 99.0, 104.0]),  # 1.3% ahead, the interval just spans 1
])
def test_leaders_within_noise_are_tied(cheap, dear):
    verdict = judge_candidates([Candidate(CHEAP, cheap),
                                Candidate(DEAR, dear)])["best_vs_runner_up"]
    assert verdict["verdict"] == "tied" and verdict["low"] < 1 < verdict["high"]


def test_a_tie_goes_to_the_cheaper_configuration_a_distinct_leader_wins():
    ranked = [point(DEAR, 120.0), point(CHEAP, 118.0)]
    tied = {"best_vs_runner_up": {"best": DEAR.label, "runner_up": CHEAP.label,
                                  "verdict": "tied"}}
    assert choose_best(ranked, tied, THROUGHPUT).key == CHEAP
    distinct = {"best_vs_runner_up": {**tied["best_vs_runner_up"], "verdict": "distinct"}}
    assert choose_best(ranked, distinct, THROUGHPUT).key == DEAR
    # The confirmation measures throughput: another objective keeps the ranking's first.
    assert choose_best(ranked, tied, parse_objective("min:p99")).key == DEAR
    assert choose_best([], None, THROUGHPUT) is None


def test_a_round_lasts_its_seconds_at_the_warm_up_rate_within_its_bounds():
    plan = PointPlan(round_s=2.0)
    assert plan.round_requests(4, 50.0) == 100
    assert plan.round_requests(8, 1.0) == 16  # at least two requests per client
    assert plan.round_requests(1, 1e9) == MAX_ROUND_REQUESTS


def _journal(tmp_path, points, **more):
    space = SweepSpace((1, 3), (Batching(False), Batching(True, 100)), (2, 8))
    header = {"repository": str(REPO), "model": "peoplenet",
              "config_digest": model_config.config_digest(model_config.read_config(REPO)),
              "launcher": "embedded", "space": space.to_json(), "rounds": 3, "round_s": 2.0,
              "memory": "system", "load_processes": 1, "monitor": "none", **more}
    journal = Journal.open(tmp_path / "journal.jsonl", header)
    for p in points:
        journal.append(p)
    return space


def test_a_journal_is_summarised_as_it_is(tmp_path):
    space = _journal(tmp_path, [point(DEAR, 150.0, p99=90.0), point(CHEAP, 100.0)])
    request = SweepRequest(REPO, space, constraints=[], objective=THROUGHPUT)
    doc = summarize_journal(tmp_path / "journal.jsonl", request)
    assert [p.key for p in doc.points] == [CHEAP, DEAR]  # in the grid's order
    assert doc.ranking == [DEAR.label, CHEAP.label] and doc.best == DEAR.label
    assert doc.pareto == [CHEAP.label, DEAR.label]
    assert doc.confirmation is None and doc.launcher == "embedded"


def test_a_journal_of_another_configuration_is_refused(tmp_path):
    space = _journal(tmp_path, [point(CHEAP, 100.0)])
    other = EMBEDDED_REPOS / "sample_2_dynamic_batching"
    with pytest.raises(SweepError, match="digest"):
        summarize_journal(tmp_path / "journal.jsonl", SweepRequest(other, space))


def test_the_outputs_hold_every_point_and_a_deployable_winning_config(tmp_path):
    space = _journal(tmp_path, [point(DEAR, 150.0), point(CHEAP, 100.0)])
    doc = summarize_journal(tmp_path / "journal.jsonl", SweepRequest(REPO, space))
    written = write_outputs(doc, tmp_path / "out", report=False)
    rows = list(csv.DictReader(written["points"].open()))
    assert [r["label"] for r in rows] == [CHEAP.label, DEAR.label]
    assert rows[1]["instances"] == "3" and rows[1]["batching"] == "on-d100"
    config = text_format.Parse(written["config"].read_text(), model_config.ModelConfig())
    assert model_config.instance_count(config) == 3
    assert config.dynamic_batching.max_queue_delay_microseconds == 100
    assert config.input[0].name == "input_1"  # the rest of the original is kept
    assert json.loads(written["sweep"].read_text())["best"] == DEAR.label
    assert "| 1 | i3-bon-d100 | 8 | 150.0 |" in written["best"].read_text()


POOL = "--cuda-memory-pool-byte-size=0:1073741824"


class _Embedded:
    name = "embedded"  # all journal_header reads of a launcher


def test_tritonserver_options_are_part_of_what_a_journal_must_match_only_when_given():
    space = SweepSpace((1,), (Batching(False),), (1,))
    plain = journal_header(SweepRequest(REPO, space), _Embedded())
    assert "server_args" not in plain  # journals written before the option still resume
    pooled = journal_header(SweepRequest(REPO, space, server_args=(POOL,)), _Embedded())
    assert pooled == {**plain, "server_args": [POOL]}


def test_options_as_name_value_pass_through_as_given():
    assert check_server_args([POOL, "--log-verbose=1"]) == (POOL, "--log-verbose=1")
    assert check_server_args([]) == ()


def test_the_sweeps_tritonserver_options_reach_its_document_and_best_table(tmp_path):
    space = _journal(tmp_path, [point(CHEAP, 100.0)], server_args=[POOL])
    doc = summarize_journal(tmp_path / "journal.jsonl", SweepRequest(REPO, space))
    assert doc.server_args == [POOL]
    assert SweepDocument.from_json(doc.to_json()).server_args == [POOL]
    written = write_outputs(doc, tmp_path / "out", report=False)
    assert f"Every server ran with `{POOL}`" in written["best"].read_text()
    # A sweep on Triton's defaults says nothing of options.
    space = _journal(tmp_path / "plain", [point(CHEAP, 100.0)])
    plain = summarize_journal(tmp_path / "plain" / "journal.jsonl", SweepRequest(REPO, space))
    assert plain.server_args == [] and "Every server ran" not in \
        write_outputs(plain, tmp_path / "plain-out", report=False)["best"].read_text()
