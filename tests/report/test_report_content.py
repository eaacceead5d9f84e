"""The reports' pages read without a browser: every section, table and plot is there, the
numbers are the gate's and the sweep's own, outside text is escaped, failed and throttled
points and machine differences are marked, and the command line writes each report."""

from __future__ import annotations

import base64
import dataclasses
import html
import itertools
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from pnsuite.cli import gate as gate_cli
from pnsuite.cli import report as report_cli
from pnsuite.report import charts
from pnsuite.report.capacity_report import write_capacity_report
from pnsuite.report.comparison_report import write_comparison_report
from pnsuite.report.history_report import write_history_report
from pnsuite.report.html import PNG_SIGNATURE
from pnsuite.report.sweep_report import breakdown_by_concurrency, write_sweep_report
from pnsuite.sweep.points import PHASES
from pnsuite.verdict import gate, verdicts
from pnsuite.verdict.gate_text import runner_line
from tests.report.conftest import (
    BEST_CONFIG,
    CONCURRENCIES,
    FAILED,
    GOLDEN_DIFF,
    RELEASE_AT,
    SLOWDOWN_AT,
    THROTTLED,
    ComparisonInputs,
    build_comparison,
    make_sweep_document,
)

SWEEP_PLOTS = {"throughput", "latency", "batch-sizes", "pareto", "energy"}


class Page(HTMLParser):
    """What the tests look at in a report page: section ids, images, tables (header texts,
    and each body row's attributes and cell texts) and <pre> texts by id or class."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.sections: list[str] = []
        self.images: list[dict[str, str]] = []
        self.headers: dict[str, list[str]] = {}
        self.tables: dict[str, list[dict]] = {}
        self.pres: dict[str, list[str]] = {}
        self.texts: dict[str, str] = {}
        self._table: str | None = None
        self._row: dict | None = None
        self._cell: list[str] | None = None
        self._cell_attrs: dict[str, str] = {}
        self._in_head = False
        self._pre: str | None = None
        self._by_id: list[tuple[str, str, list[str]]] = []
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list) -> None:
        a = {k: v or "" for k, v in attrs}
        if a.get("id"):
            self._by_id.append((a["id"], tag, []))
        if tag == "section":
            self.sections.append(a.get("id", ""))
        elif tag == "img":
            self.images.append(a)
        elif tag == "table":
            self._table = a.get("id", "")
            self.tables[self._table], self.headers[self._table] = [], []
        elif tag == "thead":
            self._in_head = True
        elif tag == "tr" and self._table is not None and not self._in_head:
            self._row = {"class": a.get("class", ""), "attrs": a, "cells": [], "cell_attrs": []}
        elif tag in ("td", "th") and self._table is not None:
            self._cell, self._cell_attrs = [], a
        elif tag == "pre":
            self._pre = a.get("id") or a.get("class", "")
            self.pres.setdefault(self._pre, []).append("")

    def handle_endtag(self, tag: str) -> None:
        if self._by_id and self._by_id[-1][1] == tag:
            ident, _, parts = self._by_id.pop()
            self.texts[ident] = " ".join("".join(parts).split())
        if tag in ("td", "th") and self._cell is not None:
            text = " ".join("".join(self._cell).split())
            if self._in_head:
                self.headers[self._table].append(text)
            elif self._row is not None:
                self._row["cells"].append(text)
                self._row["cell_attrs"].append(self._cell_attrs)
            self._cell = None
        elif tag == "thead":
            self._in_head = False
        elif tag == "tr" and self._row is not None:
            self.tables[self._table].append(self._row)
            self._row = None
        elif tag == "table":
            self._table = None
        elif tag == "pre":
            self._pre = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)
        if self._pre is not None:
            self.pres[self._pre][-1] += data
        for _, _, parts in self._by_id:
            parts.append(data)

    def image_ids(self) -> set[str]:
        return {img.get("id", "").removeprefix("img-") for img in self.images}


def _read(page: Path) -> tuple[str, Page]:
    text = page.read_text(encoding="utf-8")
    return text, Page(text)


def _assert_plots_embedded(page: Page, folder: Path, names: set[str]) -> None:
    """Each plot is an <img> whose data: URI holds the PNG also written as NAME.png."""
    assert page.image_ids() == names
    for img in page.images:
        name = img["id"].removeprefix("img-")
        src = img["src"]
        assert src.startswith("data:image/png;base64,"), f"{name} is not embedded"
        png = base64.b64decode(src.split(",", 1)[1])
        assert png.startswith(PNG_SIGNATURE) and len(png) > 2000
        assert (folder / f"{name}.png").read_bytes() == png
    assert {p.stem for p in folder.glob("*.png")} == names


def _column(page: Page, table: str, header: str) -> list[str]:
    index = page.headers[table].index(header)
    return [row["cells"][index] for row in page.tables[table]]


@dataclasses.dataclass
class Written:
    """A report written once for the tests of this module that only read it."""

    folder: Path
    text: str
    page: Page


@pytest.fixture(scope="module")
def sweep_report(tmp_path_factory) -> Written:
    folder = tmp_path_factory.mktemp("sweep-report")
    text, page = _read(write_sweep_report(make_sweep_document(), folder))
    return Written(folder, text, page)


@pytest.fixture(scope="module")
def compared(tmp_path_factory) -> tuple[ComparisonInputs, Written]:
    inputs = build_comparison(tmp_path_factory.mktemp("comparison-inputs"))
    folder = tmp_path_factory.mktemp("comparison-report")
    text, page = _read(write_comparison_report(inputs.baseline, inputs.current, inputs.report,
                                               inputs.notes, folder, [inputs.golden_diff]))
    return inputs, Written(folder, text, page)


# --------------------------------------------------------------------------- sweep

def test_the_sweep_report_has_every_section_table_and_plot(sweep_document, sweep_report):
    page = sweep_report.page
    assert (sweep_report.folder / "report.html").is_file()
    assert page.sections == ["summary", "best", "plots", "noise", "all-points", "codes"]
    _assert_plots_embedded(page, sweep_report.folder, SWEEP_PLOTS)
    assert len(page.tables["points"]) == len(sweep_document.points) == 12
    assert len(page.tables["ranking"]) == min(10, len(sweep_document.ranking))
    assert len(page.tables["confirmation"]) == 2
    assert "jetson_model" in _column(page, "machine", "key")
    assert "cpu.count" in _column(page, "machine", "key"), "nested machine keys flattened"
    assert page.texts["point-counts"] == "11 measured, 1 failed, 1 throttled"


def test_the_best_configuration_its_config_and_the_leaders_are_shown(sweep_document,
                                                                     sweep_report):
    page = sweep_report.page
    best = sweep_document.point(sweep_document.best)
    assert page.texts["best-label"] == sweep_document.best
    assert page.pres["best-config"] == [BEST_CONFIG]
    ranked = page.tables["ranking"]
    assert [r["cells"][1] + "-c" + r["cells"][2] for r in ranked] == sweep_document.ranking[:10]
    assert "best" in ranked[0]["class"].split()
    assert _column(page, "ranking", "throughput (inf/s)")[0] == f"{best.throughput:.1f}"
    assert _column(page, "ranking", "p99 (ms)")[0] == f"{best.latency_p99_ms:.2f}"
    infer = _column(page, "ranking", "compute_infer (ms)")[0]
    assert infer == f"{best.per_inference_ms['compute_infer']:.3f}"
    assert _column(page, "ranking", "energy (mJ/inf)")[0] == \
        f"{best.energy_mj_per_inference:.2f}"


def test_failed_and_throttled_points_are_flagged_in_the_table(sweep_report):
    text, page = sweep_report.text, sweep_report.page
    rows = {r["attrs"]["data-label"]: r for r in page.tables["points"]}
    status = page.headers["points"].index("status")
    error = page.headers["points"].index("error")
    failed, throttled = rows[FAILED], rows[THROTTLED]
    assert failed["class"].split()[0] == "failed" and failed["cells"][status] == "failed"
    assert failed["cells"][error] == "model failed to load: <instance 1> out of memory"
    assert "&lt;instance 1&gt;" in text
    assert throttled["class"].split()[0] == "throttled"
    assert throttled["cells"][status] == "THROTTLED"
    assert "600 of 1300" in throttled["cells"]
    others = [r for label, r in rows.items() if label not in (FAILED, THROTTLED)]
    assert {r["cells"][status] for r in others} == {"ok"}


def test_outside_text_is_escaped(tmp_path):
    doc = make_sweep_document(repository="<script>alert('sweep')</script>")
    text, page = _read(write_sweep_report(doc, tmp_path))
    assert "<script>alert" not in text
    assert "&lt;script&gt;alert(&#39;sweep&#39;)&lt;/script&gt;" in text
    assert text.count("<script>") == 1, "only the page's own sort script"
    assert page.texts["summary"].count("<script>alert('sweep')</script>") == 1


def test_without_power_there_is_no_energy_plot_or_column(tmp_path):
    _, page = _read(write_sweep_report(make_sweep_document(power=False), tmp_path))
    _assert_plots_embedded(page, tmp_path, SWEEP_PLOTS - {"energy"})
    assert not (tmp_path / "energy.png").exists()
    assert "energy (mJ/inf)" not in page.headers["ranking"]


def test_the_noise_section_shows_each_candidates_runs_and_the_verdict(sweep_document,
                                                                     sweep_report):
    page = sweep_report.page
    versus = sweep_document.confirmation.best_vs_runner_up
    rows = page.tables["confirmation"]
    assert [r["cells"][0] for r in rows] == [versus.best, versus.runner_up]
    first = sweep_document.confirmation.candidates[0]
    assert rows[0]["cells"][2] == f"{first.geomean:.1f}"
    assert rows[0]["cells"][3] == f"{first.spread:.1%}"
    assert rows[0]["cells"][1] == ", ".join(f"{v:.1f}" for v in first.runs_throughput)
    line = page.texts["best-vs-runner-up"]
    assert f"{versus.ratio:.3f}" in line and f"{versus.low:.3f}..{versus.high:.3f}" \
        in line and "distinct" in line


def test_without_confirmation_runs_the_noise_section_says_so(tmp_path):
    _, page = _read(write_sweep_report(make_sweep_document(confirmation=False), tmp_path))
    assert "confirmation" not in page.tables
    assert page.texts["no-confirmation"].startswith("No confirmation runs were made")


def test_the_tritonserver_options_every_server_had_are_shown(sweep_document, tmp_path):
    assert sweep_document.server_args == []
    _, plain = _read(write_sweep_report(sweep_document, tmp_path / "plain"))
    assert plain.texts["server-args"] == "Triton's defaults"
    pooled = dataclasses.replace(sweep_document, server_args=[
        "--cuda-memory-pool-byte-size=0:1073741824", "--log-verbose=1"])
    _, page = _read(write_sweep_report(pooled, tmp_path / "pooled"))
    assert page.texts["server-args"] == "--cuda-memory-pool-byte-size=0:1073741824 --log-verbose=1"


def test_failed_points_are_never_plotted(sweep_document, tmp_path):
    doc = dataclasses.replace(sweep_document, best=None, ranking=[], pareto=[],
                              points=[p for p in sweep_document.points if not p.ok])
    _, page = _read(write_sweep_report(doc, tmp_path))
    assert page.images == [] and not list(tmp_path.glob("*.png"))
    assert "no-best" in page.texts
    assert len(page.tables["points"]) == 1


# --------------------------------------------------------------------------- comparison

def test_the_comparison_shows_the_gates_numbers(compared):
    comparison_inputs, written = compared
    page = written.page
    assert page.sections == ["summary", "benchmarks", "left-out", "machines", "golden", "codes"]
    _assert_plots_embedded(page, written.folder, {"comparison"})
    # peoplenet-gate's own table, cell by cell (its columns are 2+ spaces apart)
    printed = [re.split(r"\s{2,}", line.strip())
               for line in gate_cli.format_rows(comparison_inputs.report.rows).splitlines()]
    assert page.headers["rows"] == printed[0]
    shown = page.tables["rows"]
    assert len(shown) == len(printed) - 1 == 4  # 2 benchmarks x (gated, tail)
    for row, line in zip(shown, printed[1:]):
        assert row["cell_attrs"][0]["title"] == line[0]
        assert row["cells"][1:] == line[1:]
    verdicts = {r["cells"][-1].split()[0] for r in shown}
    assert verdicts == {"REGRESSION", "ok"}
    assert page.texts["verdict"].startswith("gate: FAILED")


def test_machine_identity_differences_are_highlighted_and_jetson_keys_come_first(compared):
    page = compared[1].page
    rows = page.tables["identity"]
    keys = [r["cells"][0] for r in rows]
    differs = {r["cells"][0] for r in rows if "differs" in r["class"].split()}
    assert keys[:9] == ["jetpack_release", "jetson_release", "l4t_release", "tensorrt_version",
                        "triton_version", "nvpmodel_mode", "nvpmodel_id", "jetson_clocks",
                        "jetson_model"]
    assert {"jetpack_release", "l4t_release", "tensorrt_version", "triton_version",
            "jetson_release"} <= differs
    assert not differs & {"jetson_model", "nvpmodel_mode", "jetson_clocks", "gpu", "cpu.count"}
    by_key = {r["cells"][0]: r["cells"][1:] for r in rows}
    assert by_key["tensorrt_version"] == ["8.6.2.3", "10.3.0.30"]
    digests = [k for k in keys if k.startswith("model_configs.") and k.endswith(".digest")]
    assert digests and set(digests) <= differs, "nested keys flattened with dots"


def test_left_out_runs_missing_and_new_benchmarks_and_preflight_are_listed(compared):
    comparison_inputs, written = compared
    page = written.page
    report = comparison_inputs.report
    lines = page.texts["left-out-lines"]
    assert report.left_out and report.missing and report.new
    for line in report.left_out:
        assert f"left out: {line}" in lines
    assert f"MISSING: {report.missing[0]} is in the baseline" in lines
    assert f"new: {report.new[0]} (no baseline yet)" in lines
    preflight = gate_cli.format_preflight(report.preflight, report.policy)
    assert preflight and all(line in page.texts["preflight"] for line in preflight)
    assert page.texts["runner"] == " ".join(runner_line(report).split())
    assert all(f"note: {note}" in page.texts["notes"] for note in comparison_inputs.notes)


def test_golden_differences_are_shown_or_said_to_be_none(compared, tmp_path):
    inputs, written = compared
    assert written.page.pres["golden-diff"] == [GOLDEN_DIFF]
    assert "&lt;412, 88, 530, 377&gt;" in written.text
    _, page = _read(write_comparison_report(inputs.baseline, inputs.current, inputs.report,
                                            inputs.notes, tmp_path))
    assert page.texts["no-golden"] == "none given" and "golden-diff" not in page.pres


# --------------------------------------------------------------------------- history

def test_the_history_plots_each_series_and_tables_its_change_points(histories, tmp_path):
    [h] = histories
    assert [(c.kind, c.index) for c in h.changes] == [("regression", SLOWDOWN_AT)]
    assert [s.index for s in h.known_steps] == [RELEASE_AT]
    _, page = _read(write_history_report(histories, tmp_path))
    _assert_plots_embedded(page, tmp_path, {"series-01"})
    rows = page.tables["change-points"]
    assert [r["cells"][2] for r in rows] == ["regression", "known step"]
    change, step = h.changes[0], h.known_steps[0]
    assert rows[0]["cells"][3] == f"#{SLOWDOWN_AT - 1} and #{SLOWDOWN_AT}"
    assert rows[0]["cells"][5] == f"{change.commit_before}..{change.commit_after}"
    assert rows[0]["cells"][6] == f"{change.relative_change:+.1%}"
    assert rows[1]["cells"][6] == f"{step.relative_change:+.1%}"
    assert "triton_version 2.46.0 -> 2.49.0" in _column(page, "change-points", "what changed")[1]


# --------------------------------------------------------------------------- CLI

def test_the_cli_writes_each_report_and_prints_its_path(sweep_document, comparison_inputs,
                                                        history_storage, tmp_path, capsys):
    sweep_json = tmp_path / "sweep.json"
    sweep_json.write_text(json.dumps(sweep_document.to_json()))
    inputs = comparison_inputs
    runs = {
        "sweep": ["sweep", str(sweep_json)],
        "compare": ["compare", str(inputs.baseline_dir), str(inputs.current_dir),
                    "--new-release", "--golden-diff", str(inputs.golden_diff)],
        "history": ["history", str(history_storage)],
    }
    for name, argv in runs.items():
        out = tmp_path / f"out-{name}"
        assert report_cli.main([*argv, "-o", str(out)]) == 0
        assert capsys.readouterr().out.strip() == str(out / "report.html")
    _, page = _read(tmp_path / "out-compare" / "report.html")
    assert len(page.tables["rows"]) == len(inputs.report.rows)
    assert page.pres["golden-diff"] == [GOLDEN_DIFF]
    _, page = _read(tmp_path / "out-sweep" / "report.html")
    assert page.image_ids() == SWEEP_PLOTS


@pytest.mark.parametrize("case", ["broken sweep", "foreign sweep", "refused", "no history"])
def test_the_cli_says_why_it_writes_no_report(case, comparison_inputs, tmp_path, capsys):
    broken = tmp_path / "sweep.json"
    if case == "broken sweep":
        broken.write_text('{"format": 1, "repository": ')
        argv, expected = ["sweep", str(broken)], "not valid JSON"
    elif case == "foreign sweep":
        broken.write_text(json.dumps({"format": 1, "points": [{"concurrency": 1}]}))
        argv, expected = ["sweep", str(broken)], "not a sweep document"
    elif case == "refused":  # another release without --new-release, as peoplenet-gate
        argv = ["compare", str(comparison_inputs.baseline_dir),
                str(comparison_inputs.current_dir)]
        expected = "refusing to compare runs"
    else:
        (tmp_path / "empty").mkdir()
        argv, expected = ["history", str(tmp_path / "empty")], "no pytest-benchmark runs"
    assert report_cli.main([*argv, "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("peoplenet-report: ") and expected in err
    assert not (tmp_path / "out" / "report.html").exists()


def _capacity_doc(repo: str, streams: int, power: float | None) -> dict:
    def run(n: int, met: bool, confirming: bool = False) -> dict:
        return {"streams": n, "confirming": confirming, "met": met,
                "why": "met" if met else "p99 60.0 ms > 33.3333 ms", "power_w": power,
                "latency_ms": {"p50": 10.0 * n, "p90": 12.0 * n, "p99": 15.0 * n},
                "frames_due": 300 * n, "frames_dropped": 0 if met else 40,
                "send_lateness_p99_ms": 0.4, "queue_ms_halves": [0.5, 0.6]}
    runs = [run(n, n <= streams) for n in (1, 2, 4)] + [run(streams, True, confirming=True)]
    return {"repo": repo, "fps": 30.0, "rule": "p99 <= 33.3333 ms and at most 1.0% of frames "
            "late or dropped", "deadline_ms": 1e3 / 30, "percentile": 99.0, "streams": streams,
            "capped": False, "monitor": "tegrastats", "power_w": power,
            "watts_per_stream": power / streams if power else None, "runs": runs}


def test_the_capacity_report_shows_each_answer_its_curve_and_every_run(tmp_path):
    docs = [_capacity_doc("model_repos/tensorrt/sample_1_instances", 1, 11.0),
            _capacity_doc("model_repos/tensorrt/sample_2_dynamic_batching", 2, None)]
    (tmp_path / "capacity.json").write_text(json.dumps(docs))
    assert report_cli.main(["capacity", str(tmp_path / "capacity.json"),
                            "-o", str(tmp_path / "out")]) == report_cli.WRITTEN
    _, page = _read(tmp_path / "out" / "report.html")
    assert page.sections == ["summary", "plots", "runs", "codes"]
    _assert_plots_embedded(page, tmp_path / "out", {"latency-by-streams"})
    assert _column(page, "answers", "streams") == ["1", "2"]
    best = [row for row in page.tables["answers"] if row["class"] == "best"]
    assert len(best) == 1 and "sample_2_dynamic_batching (most streams)" in best[0]["cells"][0]
    assert _column(page, "answers", "W per stream") == ["11.00", "–"]  # no monitor: none
    assert len(page.tables["run-table"]) == 8
    assert _column(page, "run-table", "met").count("no") == 3


def test_a_file_that_is_no_capacity_document_is_refused(tmp_path, capsys):
    (tmp_path / "x.json").write_text(json.dumps({"streams": 3}))
    assert report_cli.main(["capacity", str(tmp_path / "x.json"), "-o", str(tmp_path / "o")]) \
        == report_cli.NOT_WRITTEN
    assert "not a capacity document" in capsys.readouterr().err


# --------------------------------------------------------------------------- read in ten seconds
# What a reader must get from a page without the docs: what every code means, why the
# best point won, latency compared under one load, plots that do not hide themselves,
# and times in one format that say when the data was measured.

def _codes(text: str) -> dict[str, str]:
    """The page's "Codes on this page" list: code -> meaning."""
    block = text.split('id="codes-list">', 1)[1].split("</dl>", 1)[0]
    return {html.unescape(code): html.unescape(meaning)
            for code, meaning in re.findall(r"<dt>(.*?)</dt><dd>(.*?)</dd>", block, re.S)}


def test_every_code_of_the_sweep_page_is_explained_on_it(sweep_report):
    page, codes = sweep_report.page, _codes(sweep_report.text)
    configs = set(_column(page, "points", "config")) | set(_column(page, "ranking", "config"))
    assert configs and configs <= codes.keys()
    assert codes["i2-bon-d100-p4.8"] == ("2 model instances, dynamic batching on, queue delay "
                                         "up to 100 \u00b5s, preferred batch sizes 4, 8")
    assert codes["i1-boff"] == "1 model instance, dynamic batching off"
    assert any(code.startswith("-cN") for code in codes), "the point labels' suffix"
    statuses = set(_column(page, "points", "status"))
    assert statuses == {"ok", "failed", "THROTTLED"} and statuses <= codes.keys()
    marks = set(re.findall(r"\((?:best|front)\)", " ".join(_column(page, "points", "point"))))
    assert marks == {"(best)", "(front)"} and marks <= codes.keys()
    assert set(PHASES) <= codes.keys()
    assert 'href="#codes"' in sweep_report.text, "the header links to the codes"


def test_the_best_point_says_why_it_won(sweep_document, sweep_report, tmp_path):
    versus = sweep_document.confirmation.best_vs_runner_up
    assert versus.verdict == "distinct"
    why = sweep_report.page.texts["why-best"]
    assert why.startswith("Why it won: The leaders were measured again in 3 independent runs")
    assert f"{versus.best} served the most" in why and "beyond the noise" in why
    assert f"ratio {versus.ratio:.3f}, 95% interval {versus.low:.3f}..{versus.high:.3f}" in why
    assert "single-run ranking" not in why, "it was first there too"
    # Tied: the cheaper of the two wins (here the same configuration at lower concurrency).
    confirmation = dataclasses.replace(
        sweep_document.confirmation,
        best_vs_runner_up=dataclasses.replace(versus, low=0.95, high=1.2, verdict="tied"))
    tied = dataclasses.replace(sweep_document, best=versus.runner_up, confirmation=confirmation)
    _, page = _read(write_sweep_report(tied, tmp_path / "tied"))
    why = page.texts["why-best"]
    assert "could not be told apart" in why and "spans 1" in why
    assert f"so the cheaper of the two won: {versus.runner_up}, with lower client concurrency " \
           "(4 against 8)" in why
    assert "In the single-run ranking below it was #2" in why
    _, page = _read(write_sweep_report(make_sweep_document(confirmation=False), tmp_path / "u"))
    assert "No independent runs confirmed it" in page.texts["why-best"]


def test_the_latency_breakdown_compares_configurations_at_one_concurrency(sweep_document,
                                                                          sweep_report):
    measured = [p for p in sweep_document.points if p.ok]
    groups = breakdown_by_concurrency(measured)
    assert sorted(groups) == list(CONCURRENCIES)
    for concurrency, points in groups.items():
        assert {p.key.concurrency for p in points} == {concurrency}
    assert sum(map(len, groups.values())) == len(measured)
    best = sweep_document.point(sweep_document.best)
    figure = charts.latency_breakdown_figure(groups, best)
    panels = [ax for ax in figure.axes if ax.get_visible()]
    assert [ax.get_title() for ax in panels] == [f"client concurrency {c}" for c in CONCURRENCIES]
    for ax, concurrency in zip(panels, CONCURRENCIES):
        names = [("\u2605 " if p is best else "") + p.key.variant.name
                 for p in groups[concurrency]]
        assert [t.get_text() for t in ax.get_xticklabels()] == names
    assert "one panel per client concurrency" in _caption(sweep_report.text, "latency")


def _caption(text: str, plot: str) -> str:
    """The caption under a plot (Page cannot: the <img> inside a figure has no end tag)."""
    found = re.search(rf'id="plot-{plot}".*?<figcaption>(.*?)</figcaption>', text, re.S)
    assert found, f"no plot {plot}"
    return html.unescape(" ".join(re.sub(r"<[^>]+>", "", found.group(1)).split()))


def _boxes_apart(figure) -> list:
    """The window extents of every text drawn in the figure's axes (labels, annotations)."""
    renderer = figure.canvas.get_renderer()
    figure.draw(renderer)
    return [t.get_window_extent(renderer) for ax in figure.axes for t in ax.texts]


def test_the_pareto_fronts_labels_do_not_overlap(sweep_document):
    # Six front points within a few ms and inferences/s of each other on an axis that a
    # far point stretches: at one fixed offset their labels were drawn over each other.
    ok = [p for p in sweep_document.points if p.ok]
    crowded = [dataclasses.replace(p, latency_p99_ms=100 + 2 * i, throughput=50 + 0.3 * i)
               for i, p in enumerate(ok[:6])]
    far = dataclasses.replace(ok[6], latency_p99_ms=2000.0, throughput=5.0)
    boxes = _boxes_apart(charts.pareto_figure([*crowded, far], crowded))
    assert len(boxes) == 6
    assert not any(a.overlaps(b) for a, b in itertools.combinations(boxes, 2))


def test_the_best_point_is_a_star_in_the_plots(sweep_document):
    measured = [p for p in sweep_document.points if p.ok]
    best = sweep_document.point(sweep_document.best)
    front = [p for p in measured if p.key.label in sweep_document.pareto]
    for figure in (charts.throughput_figure(measured, best),
                   charts.pareto_figure(measured, front, best)):
        legend = [t.get_text() for t in figure.axes[0].get_legend().get_texts()]
        assert f"best: {best.key.label}" in legend


def test_the_sweep_page_says_when_it_was_measured_in_one_format(sweep_report):
    texts = sweep_report.page.texts
    assert texts["measured"] == "measured 2026-11-02 09:50 UTC to 2026-11-02 10:30 UTC"
    assert texts["wall-time"] == ("40.0 min (2400 s), 2026-11-02 09:50 UTC to "
                                  "2026-11-02 10:30 UTC")
    assert texts["written"].startswith("page written ") and texts["written"].count(" UTC") == 1
    assert "T09:50" not in sweep_report.text and "+00:00" not in sweep_report.text


def test_every_code_of_the_comparison_is_explained_and_each_side_says_when(compared):
    inputs, written = compared
    page, codes = written.page, _codes(written.text)
    shown = {r["cells"][-1].split()[0] for r in page.tables["rows"]}
    metrics = set(_column(page, "rows", "metric"))
    assert shown == {"REGRESSION", "ok"} and shown <= codes.keys()
    assert metrics == {"inference_ms", "latency_p99_ms"} and metrics <= codes.keys()
    assert {"runs a/b", "p (Holm)", "interval", "left out", "MISSING", "new"} <= codes.keys()
    # The synthetic runs: the baseline an hour apart from 2026-11-01, the current a day later.
    assert "4 runs, measured 2026-11-01 00:00 UTC to 2026-11-01 03:00 UTC" \
        in page.texts["baseline-side"]
    assert "5 runs, measured 2026-11-02 00:00 UTC to 2026-11-02 04:00 UTC" \
        in page.texts["current-side"]
    assert page.texts["measured"] == "measured 2026-11-01 00:00 UTC to 2026-11-02 04:00 UTC"


def test_the_comparisons_legend_covers_no_panel(compared):
    inputs, _ = compared
    figure = charts.comparison_figure(inputs.report.rows, {})
    assert all(ax.get_legend() is None for ax in figure.axes), "no legend inside a panel"
    [legend] = figure.legends
    renderer = figure.canvas.get_renderer()
    figure.draw(renderer)
    box = legend.get_window_extent(renderer)
    assert not any(box.overlaps(ax.get_window_extent(renderer)) for ax in figure.axes)
    assert [t.get_text() for t in legend.get_texts()] == [
        "baseline: geometric mean (bar) and runs (dots)",
        "current: geometric mean (bar) and runs (dots)"]


def test_every_code_of_the_history_is_explained_and_times_agree(histories, tmp_path):
    text, page = _read(write_history_report(histories, tmp_path))
    codes = _codes(text)
    kinds = set(_column(page, "change-points", "kind"))
    assert kinds == {"regression", "known step"} and kinds <= codes.keys()
    assert {"round_s", "#a and #b", "commits", "p", "relative change"} <= codes.keys()
    # 20 runs an hour apart from 2026-11-01 00:00 UTC: the header, the table and the
    # caption name the same times in the same format.
    assert page.texts["measured"] == "measured 2026-11-01 00:00 UTC to 2026-11-01 19:00 UTC"
    assert _column(page, "change-points", "time of the later run")[0] == \
        f"2026-11-01 {SLOWDOWN_AT:02d}:00 UTC"
    assert "run #0 at 2026-11-01 00:00 UTC, run #19 at 2026-11-01 19:00 UTC" \
        in _caption(text, "series-01")
    # the two runs by their saved files, which name the build where commits cannot
    assert _column(page, "change-points", "run files")[0] == \
        f"{SLOWDOWN_AT:04d}_run.json \u2192 {SLOWDOWN_AT + 1:04d}_run.json"


def test_the_capacity_page_says_why_the_answer_won_and_what_its_codes_mean(tmp_path):
    docs = [_capacity_doc("model_repos/tensorrt/sample_1_instances", 1, 11.0),
            _capacity_doc("model_repos/tensorrt/sample_2_dynamic_batching", 2, None)]
    docs[0].update(started="2026-12-05T01:50:02+00:00", finished="2026-12-05T01:52:40+00:00")
    docs[1].update(started="2026-12-05T01:52:41+00:00", finished="2026-12-05T01:55:09+00:00")
    text, page = _read(write_capacity_report(docs, tmp_path))
    why = page.texts["why-best"]
    assert why.startswith("Why it won: sample_2_dynamic_batching serves the most streams: 2 "
                          "at 30 fps each")
    assert "sample_2_dynamic_batching: 2 streams met the rule in the search and in 1 " \
        "confirmation run on fresh servers (frames' p99 at most 30 ms)" in why
    assert "; 4 streams did not in the search (p99 60.0 ms > 33.3333 ms)." in why
    assert why.endswith("Next: sample_1_instances with 1 stream.")
    codes = _codes(text)
    assert set(_column(page, "run-table", "run")) == {"search", "confirm"} <= codes.keys()
    assert {"met yes / no", "dropped", "send lateness p99", "Triton queue, halves",
            "frames due"} <= codes.keys()
    assert page.texts["measured"] == "measured 2026-12-05 01:50 UTC to 2026-12-05 01:55 UTC"
    assert _column(page, "answers", "measured")[0] == \
        "2026-12-05 01:50 UTC to 2026-12-05 01:52 UTC"
    figure = charts.capacity_figure(docs, best=[docs[1]["repo"]])
    legend = [t.get_text() for t in figure.axes[0].get_legend().get_texts()]
    assert "most streams: sample_2_dynamic_batching, 2" in legend
    # A document written before the times were recorded still reads, and says so.
    for doc in docs:
        del doc["started"], doc["finished"]
    _, page = _read(write_capacity_report(docs, tmp_path / "old"))
    assert page.texts["measured"] == "when measured: not recorded in the input"
    assert _column(page, "answers", "measured") == ["not recorded"] * 2


def test_an_inconclusive_comparison_explains_its_reason_code(compared, tmp_path):
    inputs, written = compared
    assert not any(code.startswith("[") for code in _codes(written.text)), "decided: no reason"
    # Without the missing benchmark (which fails the gate whatever else), and with the
    # threshold above its +38% estimate but inside its interval (+30%..+46%): undecided.
    shared = dataclasses.replace(inputs.baseline, benchmarks={
        name: runs for name, runs in inputs.baseline.benchmarks.items()
        if name in inputs.current.benchmarks})
    report = gate.compare_sets(shared, inputs.current,
                               verdicts.Policy(threshold=0.4, tail_threshold=0.6))
    assert report.verdict == verdicts.INCONCLUSIVE
    text, page = _read(write_comparison_report(inputs.baseline, inputs.current, report,
                                               inputs.notes, tmp_path))
    [code] = re.findall(r"\[([a-z-]+)\]", page.texts["verdict"])
    assert _codes(text)[f"[{code}]"], f"[{code}] is named on the verdict line, so explained"


def test_the_comparison_plot_names_benchmarks_by_what_tells_them_apart(compared):
    inputs, _ = compared
    figure = charts.comparison_figure(inputs.report.rows, {})
    shown = [t.get_text() for t in figure.axes[0].get_yticklabels()]
    # cut in the middle, the full names hid the repository: test_throughput[embedd…c4]
    assert shown == ["embedded-sample_1_instances-c4", "embedded-sample_2_dynamic_batching-c1"]
    # benchmarks of different tests keep their test's name
    assert charts.benchmark_labels(["f.py::test_a[x]", "f.py::test_b[y]"]) == \
        ["test_a[x]", "test_b[y]"]



def test_configurations_tied_for_the_most_streams_are_named_together(tmp_path):
    docs = [_capacity_doc("model_repos/embedded/sample_1_instances", 2, None),
            _capacity_doc("model_repos/embedded/sample_2_dynamic_batching", 2, None)]
    _, page = _read(write_capacity_report(docs, tmp_path))
    assert page.texts["why-best"].startswith(
        "Why it won: sample_1_instances and sample_2_dynamic_batching tie for the most "
        "streams: 2 at 30 fps each")
    marked = [row["cells"][0] for row in page.tables["answers"] if row["class"] == "best"]
    assert len(marked) == 2 and all("(most streams, tied)" in cell for cell in marked)
