"""A sweep's answer from its points, without a server: the leaders judged on their
independent runs, the best chosen (the cheaper when noise cannot tell), the journal
summarised, and the files written, the winning config among them."""

from __future__ import annotations

import csv
import json
from dataclasses import asdict

import pytest
from google.protobuf import text_format

from pnsuite.paths import EMBEDDED_REPOS, PROJECT_ROOT
from pnsuite.repository import model_config
from pnsuite.sweep.errors import SweepError
from pnsuite.sweep.journal import Journal
from pnsuite.measure.windows import WindowPlan
from pnsuite.sweep.measure import POINT_WINDOWS, PointPlan
from pnsuite.sweep.objectives import parse_objective
from pnsuite.sweep.outputs import write_outputs
from pnsuite.server.launcher import check_server_args
from pnsuite.client.memory import Memory
from pnsuite.errors import SuiteError
from pnsuite.sweep.points import (Batching, BestVsRunnerUp, Candidate, Confirmation, PointKey,
                                  SweepDocument, SweepPoint, Variant)
from pnsuite.sweep.runner import (SweepRequest, choose_best, journal_header, judge_candidates,
                                  summarize_journal)
from pnsuite.sweep.space import SweepSpace

REPO = EMBEDDED_REPOS / "sample_1_instances"
CHEAP = PointKey(Variant(1, Batching(False)), 2)
DEAR = PointKey(Variant(3, Batching(True, 100)), 8)
THROUGHPUT = parse_objective("max:throughput")


def point(key: PointKey, throughput: float, p99: float = 50.0) -> SweepPoint:
    return SweepPoint(key, throughput=throughput, windows_throughput=[throughput] * 3,
                      windows_counted=3, stable=True, latency_p50_ms=p99 / 2, latency_p99_ms=p99,
                      per_inference_ms={"queue": 1.0, "compute_infer": 9.0},
                      batch_sizes={1: 30}, inferences=30, executions=30)


def test_leaders_far_apart_are_distinct_and_the_faster_is_first():
    judged = judge_candidates([Candidate(CHEAP, [100.0, 102.0, 98.0]),
                               Candidate(DEAR, [150.0, 149.0, 152.0])])
    verdict = judged.best_vs_runner_up
    assert judged.runs == 3
    assert [c.key for c in judged.candidates] == [DEAR, CHEAP]
    assert verdict.best == DEAR.label and verdict.verdict == "distinct" and verdict.distinct
    assert verdict.low < verdict.ratio < verdict.high
    assert verdict.ratio == pytest.approx(150.33 / 99.99, rel=1e-3)
    assert verdict.low > 1


@pytest.mark.parametrize("cheap, dear", [
    ([100.0, 120.0, 90.0], [110.0, 95.0, 112.0]),  # far within the noise
    ([100.0, 100.0, 100.0], [101.0, 99.0, 104.0]),  # 1.3% ahead, the interval just spans 1
])
def test_leaders_within_noise_are_tied(cheap, dear):
    verdict = judge_candidates([Candidate(CHEAP, cheap),
                                Candidate(DEAR, dear)]).best_vs_runner_up
    assert verdict.verdict == "tied" and not verdict.distinct
    assert verdict.low < 1 < verdict.high


def test_too_few_runs_or_candidates_give_no_verdict():
    assert judge_candidates([Candidate(CHEAP, [100.0]),
                             Candidate(DEAR, [150.0])]).best_vs_runner_up is None
    alone = judge_candidates([Candidate(DEAR, [150.0, 149.0, 152.0])])
    assert alone.runs == 3 and alone.best_vs_runner_up is None
    assert "best_vs_runner_up" not in alone.to_json()


def test_a_tie_goes_to_the_cheaper_configuration_a_distinct_leader_wins():
    ranked = [point(DEAR, 120.0), point(CHEAP, 118.0)]

    def confirmed(verdict: str) -> Confirmation:
        return Confirmation(runs=3, candidates=(), best_vs_runner_up=BestVsRunnerUp(
            best=DEAR.label, runner_up=CHEAP.label, ratio=1.02, low=0.99, high=1.05,
            verdict=verdict))

    tied = confirmed("tied")
    assert choose_best(ranked, tied, THROUGHPUT).key == CHEAP
    assert choose_best(ranked, confirmed("distinct"), THROUGHPUT).key == DEAR
    assert choose_best(ranked, Confirmation(runs=1), THROUGHPUT).key == DEAR
    # The confirmation measures throughput: another objective keeps the ranking's first.
    assert choose_best(ranked, tied, parse_objective("min:p99")).key == DEAR
    assert choose_best([], None, THROUGHPUT) is None


def _journal(tmp_path, points, **more):
    space = SweepSpace((1, 3), (Batching(False), Batching(True, 100)), (2, 8))
    header = {"repository": str(REPO), "model": "peoplenet",
              "config_digest": model_config.config_digest(model_config.read_config(REPO)),
              "launcher": "embedded", "space": space.to_json(), "windows": asdict(POINT_WINDOWS),
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


def test_the_memory_is_a_memory_and_written_as_its_name(tmp_path):
    space = SweepSpace((1,), (Batching(False),), (1,))
    header = journal_header(SweepRequest(REPO, space, PointPlan(memory=Memory.GPU)), _Embedded())
    assert type(header["memory"]) is str and header["memory"] == "gpu"
    space = _journal(tmp_path, [point(CHEAP, 100.0)], memory="none")
    doc = summarize_journal(tmp_path / "journal.jsonl", SweepRequest(REPO, space))
    assert doc.memory is Memory.NONE
    data = json.loads(json.dumps(doc.to_json()))
    assert data["memory"] == "none"
    assert SweepDocument.from_json(data).memory is Memory.NONE


def test_a_journal_of_an_unknown_memory_is_refused_naming_it(tmp_path):
    space = _journal(tmp_path, [point(CHEAP, 100.0)], memory="pinned")
    with pytest.raises(SuiteError, match="memory must be one of.*'pinned'"):
        summarize_journal(tmp_path / "journal.jsonl", SweepRequest(REPO, space))


#: a sweep document's confirmation as sweeps wrote it before it had a type
OLD_CONFIRMATION = {
    "runs": 3,
    "candidates": [
        {"label": DEAR.label, "variant": DEAR.variant.to_json(), "concurrency": 8,
         "runs_throughput": [150.0, 149.0, 152.0], "geomean": 150.3, "spread": 0.02},
        {"label": CHEAP.label, "variant": CHEAP.variant.to_json(), "concurrency": 2,
         "runs_throughput": [100.0, 102.0, 98.0], "geomean": 99.99, "spread": 0.04}],
    "best_vs_runner_up": {"best": DEAR.label, "runner_up": CHEAP.label, "ratio": 1.503,
                          "low": 1.45, "high": 1.56, "verdict": "distinct"}}


def test_a_confirmation_written_before_it_had_a_type_still_loads(tmp_path):
    space = _journal(tmp_path, [point(DEAR, 150.0), point(CHEAP, 100.0)])
    data = summarize_journal(tmp_path / "journal.jsonl", SweepRequest(REPO, space)).to_json()
    data["confirmation"] = OLD_CONFIRMATION
    doc = SweepDocument.from_json(json.loads(json.dumps(data)))
    confirmation = doc.confirmation
    assert isinstance(confirmation, Confirmation) and confirmation.runs == 3
    assert [c.key for c in confirmation.candidates] == [DEAR, CHEAP]
    assert confirmation.candidates[1].runs_throughput == (100.0, 102.0, 98.0)
    assert confirmation.best_vs_runner_up == BestVsRunnerUp(
        best=DEAR.label, runner_up=CHEAP.label, ratio=1.503, low=1.45, high=1.56,
        verdict="distinct")
    # Written again, it reads as it did (geomean and spread recomputed from the runs).
    again = doc.to_json()["confirmation"]
    assert again["best_vs_runner_up"] == OLD_CONFIRMATION["best_vs_runner_up"]
    assert [{k: c[k] for k in ("label", "variant", "concurrency", "runs_throughput")}
            for c in again["candidates"]] == \
        [{k: c[k] for k in ("label", "variant", "concurrency", "runs_throughput")}
         for c in OLD_CONFIRMATION["candidates"]]
    assert again["candidates"][1]["geomean"] == pytest.approx(99.99, rel=1e-4)
    written = write_outputs(doc, tmp_path / "out", report=False)
    assert "Confirmed in 3 independent runs each: i3-bon-d100-c8 / i1-boff-c2 = 1.503 " \
        "(95% 1.450..1.560): distinct." in written["best"].read_text()
    assert SweepDocument.from_json({**data, "confirmation": None}).confirmation is None


def test_a_confirmation_is_frozen_and_built_with_keywords():
    confirmation = judge_candidates([Candidate(CHEAP, [100.0, 102.0, 98.0]),
                                     Candidate(DEAR, [150.0, 149.0, 152.0])])
    with pytest.raises(AttributeError):
        confirmation.runs = 4  # type: ignore[misc]
    with pytest.raises(TypeError):
        Confirmation(3)  # type: ignore[misc]
    assert Confirmation.from_json(json.loads(json.dumps(confirmation.to_json()))) == confirmation


def test_a_journal_must_match_the_windows_points_are_measured_in():
    space = SweepSpace((1,), (Batching(False),), (1,))
    quick = PointPlan(windows=WindowPlan(seconds=0.5, stable=2, max_windows=4))
    header = journal_header(SweepRequest(REPO, space, quick), _Embedded())
    assert header["windows"] == {"seconds": 0.5, "stable": 2, "tolerance": 0.10,
                                 "max_windows": 4, "warmup_s": 1.0}
    assert "rounds" not in header and "round_s" not in header
    default = journal_header(SweepRequest(REPO, space), _Embedded())
    assert default["windows"] == asdict(POINT_WINDOWS) != header["windows"]


def test_a_plan_is_built_with_keywords():
    with pytest.raises(TypeError):
        PointPlan(POINT_WINDOWS)  # type: ignore[misc]


#: a sweep written while points were measured in timed rounds (sweep document and journal
#: format 1), of the repository's sample_1_instances
ROUNDS_SWEEP = PROJECT_ROOT / "results" / "sweeps" / "embedded-2core" / "sweep.json"
ROUNDS_JOURNAL = ROUNDS_SWEEP.with_name("journal.jsonl")


def test_a_sweep_of_points_measured_in_rounds_still_reads_with_its_figures_as_written():
    data = json.loads(ROUNDS_SWEEP.read_text())
    assert data["format"] == 1
    doc = SweepDocument.from_json(data)
    assert len(doc.points) == len(data["points"]) > 0
    for p, written in zip(doc.points, data["points"]):
        assert p.key.label == written["label"]
        assert p.throughput == pytest.approx(written["throughput"], nan_ok=True)
        assert p.windows_throughput == written["rounds_throughput"]
        assert p.windows_counted == len(written["rounds_throughput"]) and p.stable is None
    assert doc.best == data["best"] and doc.point(doc.best).ok
    again = doc.to_json()
    assert again["format"] == 2
    assert SweepDocument.from_json(json.loads(json.dumps(again))).to_json() == again


def test_a_journal_of_points_measured_in_rounds_is_summarised_as_written(tmp_path):
    journal = tmp_path / "journal.jsonl"
    journal.write_bytes(ROUNDS_JOURNAL.read_bytes())
    written = json.loads(ROUNDS_SWEEP.read_text())
    space = SweepSpace.from_json(written["space"])
    doc = summarize_journal(journal, SweepRequest(REPO, space, objective=THROUGHPUT))
    assert [p.key.label for p in doc.points] == [p["label"] for p in written["points"]]
    assert [p.throughput for p in doc.points] == [p["throughput"] for p in written["points"]]
    # the same ranking the sweep made of its rounds' medians
    assert doc.ranking == written["ranking"]
    assert journal.read_bytes() == ROUNDS_JOURNAL.read_bytes(), "read, not rewritten"


#: a CSV the real perf_analyzer 2.51.0 wrote (`-f`) on the H100 cross-check
PERF_ANALYZER_CSV = (PROJECT_ROOT / "results" / "gpu" / "nvidia-h100-x1" / "crosscheck-cuda-shm"
                     / "perf_analyzer" / "sample_1_instances_c1_r1.csv")


def test_points_csv_names_and_scales_shared_columns_as_perf_analyzer_does(tmp_path):
    space = _journal(tmp_path, [point(DEAR, 150.0, p99=90.0), point(CHEAP, 100.0)])
    doc = summarize_journal(tmp_path / "journal.jsonl", SweepRequest(REPO, space))
    written = write_outputs(doc, tmp_path / "out", report=False)
    with written["points"].open(newline="") as f:
        reader = csv.DictReader(f)
        header, rows = reader.fieldnames or [], list(reader)
    with PERF_ANALYZER_CSV.open(newline="") as f:
        theirs = next(csv.reader(f))
    shared = [name for name in header if name in theirs]
    # every quantity perf_analyzer also reports, under its exact name, in its order
    assert shared == [name for name in theirs if name in header] == [
        "Concurrency", "Inferences/Second", "Server Queue", "Server Compute Input",
        "Server Compute Infer", "Server Compute Output", "p50 latency", "p99 latency"]
    assert not {"throughput", "latency_p99_ms", "queue_ms", "concurrency"} & set(header)
    dear = next(r for r in rows if r["label"] == DEAR.label)
    # perf_analyzer's units: microseconds for times, inferences per second, plain counts
    assert dear["Concurrency"] == str(DEAR.concurrency)
    assert float(dear["Inferences/Second"]) == 150.0
    assert float(dear["p99 latency"]) == 90_000.0 and float(dear["p50 latency"]) == 45_000.0
    assert float(dear["Server Queue"]) == 1_000.0 and float(dear["Server Compute Infer"]) == 9_000.0
    assert dear["Server Compute Input"] == ""  # not recorded: empty, as before
    # read as the suite reads perf_analyzer's own file (pnsuite/measure/perf_analyzer.py)
    assert float(dear["p99 latency"]) / 1e3 == doc.point(DEAR.label).latency_p99_ms
