"""The sweep journal on real files: its header line, points read back (the latest record
of a key winning), a torn last line dropped, damage elsewhere and another sweep's header
refused, and a point that survives kill -9 once append returns."""

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from pnsuite.sweep.errors import SweepError
from pnsuite.sweep.journal import Journal
from pnsuite.sweep.points import Batching, PointKey, Platform, SweepPoint, Variant

ROOT = Path(__file__).resolve().parents[2]

HEADER = {"repository": "model_repos/embedded/sample_1_instances", "model": "peoplenet",
          "space": {"instances": [1, 2], "batching": ["off", "on-d100"],
                    "concurrency": [1, 4]},
          "search": "brute", "objective": "max:throughput"}


def point(instances=1, concurrency=1, throughput=100.0, error=None):
    return SweepPoint(PointKey(Variant(instances, Batching(True, 100, (4, 8))), concurrency),
                      throughput=throughput,
                      windows_throughput=[throughput + 9.0, throughput + 2.0, throughput - 1.0,
                                          throughput],
                      windows_counted=3, stable=True,
                      latency_p50_ms=4.5, latency_p99_ms=9.25,
                      per_inference_ms={"queue": 0.5, "compute_input": 0.25,
                                        "compute_infer": 3.0, "compute_output": 0.125},
                      batch_sizes={1: 10, 4: 3}, inferences=22, executions=13,
                      platform=Platform("tegrastats", 12.5, 1100.0, 1300.0, 61.0, 40),
                      measured_at="2025-01-02T03:04:05+00:00", seconds=12.0, error=error)


def lines(path):
    return path.read_text().splitlines()


def test_a_new_journal_holds_its_header_on_line_one(tmp_path):
    path = tmp_path / "out" / "journal.jsonl"
    journal = Journal.open(path, HEADER)
    assert lines(path) == [json.dumps({"journal": 2, "header": HEADER})]
    assert journal.points() == {} and journal.torn_lines == 0
    assert [p.name for p in path.parent.iterdir()] == ["journal.jsonl"]


def test_appended_points_read_back_equal(tmp_path):
    path = tmp_path / "journal.jsonl"
    journal = Journal.open(path, HEADER)
    a, b = point(1, 1, 100.0), point(2, 4, 300.0)
    journal.append(a)
    journal.append(b)
    assert len(lines(path)) == 3
    assert json.loads(lines(path)[2]) == {"point": b.to_json()}
    assert journal.points() == {a.key: a, b.key: b}
    again = Journal.open(path, HEADER)
    assert again.points() == {a.key: a, b.key: b}
    assert again.points()[b.key].throughput == 300.0
    assert again.points()[b.key].energy_mj_per_inference == pytest.approx(12.5 / 300 * 1e3)
    assert again.torn_lines == 0


def test_a_later_record_of_a_key_wins(tmp_path):
    path = tmp_path / "journal.jsonl"
    journal = Journal.open(path, HEADER)
    journal.append(point(1, 1, error="variant failed to load"))
    journal.append(point(1, 4, 200.0))
    journal.append(point(1, 1, 150.0))
    recorded = Journal.open(path, HEADER).points()
    assert len(recorded) == 2
    assert recorded[point(1, 1).key].error is None
    assert recorded[point(1, 1).key].throughput == 150.0


def test_the_header_is_compared_as_json(tmp_path):
    path = tmp_path / "journal.jsonl"
    first = Journal.open(path, {"space": {"instances": (1, 2)}, "n": 1})
    assert first.header == {"space": {"instances": [1, 2]}, "n": 1}, "as JSON reads it back"
    first.append(point())
    again = Journal.open(path, {"n": 1, "space": {"instances": [1, 2]}})
    assert list(again.points()) == [point().key]


def test_another_sweeps_journal_is_refused_naming_what_differs(tmp_path):
    path = tmp_path / "journal.jsonl"
    Journal.open(path, HEADER).append(point())
    other = {**HEADER, "search": "hill", "objective": "min:energy_mj_per_inference",
             "max_points": 20}
    del other["model"]
    with pytest.raises(SweepError) as caught:
        Journal.open(path, other)
    assert caught.value.message == (
        f"{path} is a journal of another sweep; its header differs in "
        'max_points (journal: (absent), this sweep: 20); '
        'model (journal: "peoplenet", this sweep: (absent)); '
        'objective (journal: "max:throughput", this sweep: "min:energy_mj_per_inference"); '
        'search (journal: "brute", this sweep: "hill")')
    assert caught.value.hint == "pass --restart to discard it, or another --out"
    assert len(lines(path)) == 2, "the refused journal is left as it was"


def test_restart_discards_the_old_journal(tmp_path):
    path = tmp_path / "journal.jsonl"
    Journal.open(path, HEADER).append(point())
    other = {**HEADER, "search": "hill"}
    journal = Journal.open(path, other, restart=True)
    assert journal.points() == {}
    assert lines(path) == [json.dumps({"journal": 2, "header": other})]
    assert Journal.open(path, other).points() == {}


def test_a_torn_last_line_is_dropped_and_cut_off_before_the_next_append(tmp_path):
    path = tmp_path / "journal.jsonl"
    Journal.open(path, HEADER).append(point(1, 1))
    whole = path.read_bytes()
    torn = json.dumps({"point": point(1, 4).to_json()})[:57]
    path.write_bytes(whole + torn.encode())

    journal = Journal.open(path, HEADER)
    assert journal.torn_lines == 1
    assert list(journal.points()) == [point(1, 1).key]
    assert path.read_bytes() == whole

    journal.append(point(2, 4))
    again = Journal.open(path, HEADER)
    assert again.torn_lines == 0
    assert list(again.points()) == [point(1, 1).key, point(2, 4).key]


def test_a_whole_last_line_without_its_newline_counts_as_torn(tmp_path):
    path = tmp_path / "journal.jsonl"
    Journal.open(path, HEADER)
    header_line = path.read_bytes()
    path.write_bytes(header_line + json.dumps({"point": point().to_json()}).encode())
    journal = Journal.open(path, HEADER)
    assert journal.torn_lines == 1 and journal.points() == {}
    assert path.read_bytes() == header_line


def test_garbage_on_the_last_line_is_dropped_as_torn(tmp_path):
    path = tmp_path / "journal.jsonl"
    Journal.open(path, HEADER).append(point(1, 1))
    whole = path.read_bytes()
    path.write_bytes(whole + b"\x00\x00\x00\n")
    journal = Journal.open(path, HEADER)
    assert journal.torn_lines == 1 and list(journal.points()) == [point(1, 1).key]
    assert path.read_bytes() == whole


@pytest.mark.parametrize("bad", ['{"point": {"concurrency": 4}}', '{"poin', "[1, 2]", ""])
def test_a_damaged_line_before_the_last_is_an_error_with_its_number(tmp_path, bad):
    path = tmp_path / "journal.jsonl"
    journal = Journal.open(path, HEADER)
    journal.append(point(1, 1))
    journal.append(point(1, 4))
    text = lines(path)
    path.write_text("\n".join([text[0], text[1], bad, text[2]]) + "\n")
    with pytest.raises(SweepError) as caught:
        Journal.open(path, HEADER)
    assert caught.value.message.startswith(f"{path} line 3 is not a sweep point: ")
    assert caught.value.hint == ("the journal is damaged: pass --restart to discard it, "
                                 "or another --out")


@pytest.mark.parametrize("content", [b"", b"a,b,c\n1,2,3\n", b'{"journal": 1}\n',
                                     b'{"journal": 1, "header": {}'])
def test_a_file_that_is_no_journal_is_refused(tmp_path, content):
    path = tmp_path / "points.csv"
    path.write_bytes(content)
    with pytest.raises(SweepError, match="is not a sweep journal"):
        Journal.open(path, HEADER)
    assert path.read_bytes() == content


def test_a_journal_of_another_format_is_refused(tmp_path):
    path = tmp_path / "journal.jsonl"
    path.write_text(json.dumps({"journal": 3, "header": HEADER}) + "\n")
    with pytest.raises(SweepError, match="format 3; this suite writes format 2"):
        Journal.open(path, HEADER)
    with pytest.raises(SweepError, match="format 3"):
        Journal.read(path)


#: a point as sweeps wrote it while points were measured in timed rounds (journal format 1)
ROUNDS_POINT = {
    "variant": {"name": "i2-bon-d100", "instances": 2, "dynamic_batching": True,
                "max_queue_delay_us": 100, "preferred_batch_sizes": []},
    "concurrency": 4, "label": "i2-bon-d100-c4", "throughput": 101.5,
    "rounds_throughput": [98.25, 101.5, 104.0], "latency_p50_ms": 38.5, "latency_p99_ms": 61.0,
    "per_inference_ms": {"queue": 0.5, "compute_input": 0.25, "compute_infer": 9.0,
                         "compute_output": 0.125},
    "batch_sizes": {"1": 20, "2": 40}, "inferences": 100, "executions": 60,
    "energy_mj_per_inference": None, "inferences_per_joule": None,
    "platform": {"source": None, "power_w": None, "gpu_clock_mhz": None,
                 "gpu_clock_max_mhz": None, "temperature_c_max": None, "samples": 0,
                 "throttled": None},
    "measured_at": "2026-12-01T18:58:56+00:00", "seconds": 7.11, "error": None}


def _rounds_journal(path):
    path.write_text(json.dumps({"journal": 1, "header": HEADER}) + "\n"
                    + json.dumps({"point": ROUNDS_POINT}) + "\n")


def test_a_journal_of_points_measured_in_rounds_is_not_resumed_naming_the_fix(tmp_path):
    path = tmp_path / "journal.jsonl"
    _rounds_journal(path)
    with pytest.raises(SweepError) as refused:
        Journal.open(path, HEADER)
    message = str(refused.value)
    assert "measured in timed rounds (journal format 1)" in message
    assert "--restart" in message and "--summarize still reads it" in message
    assert len(lines(path)) == 2, "a refused journal is left as it was"


def test_a_journal_of_points_measured_in_rounds_reads_its_rounds_as_windows(tmp_path):
    path = tmp_path / "journal.jsonl"
    _rounds_journal(path)
    journal = Journal.read(path)
    assert journal.header == HEADER
    (p,) = journal.points().values()
    assert p.key.label == "i2-bon-d100-c4"
    assert p.throughput == 101.5  # the figure the sweep ranked it by, as written
    assert p.windows_throughput == [98.25, 101.5, 104.0] and p.windows_counted == 3
    assert p.stable is None  # the rounds' agreement was never judged
    assert p.batch_sizes == {1: 20, 2: 40} and p.inferences == 100
    again = p.to_json()
    assert "rounds_throughput" not in again and again["windows_throughput"] == [98.25, 101.5, 104.0]


def test_append_syncs_the_journal_to_disk(tmp_path, monkeypatch):
    journal = Journal.open(tmp_path / "journal.jsonl", HEADER)
    synced = []
    real_fsync = os.fsync

    def fsync(fd):
        synced.append(os.path.realpath(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    journal.append(point())
    assert synced == [os.path.realpath(tmp_path / "journal.jsonl")]


def test_a_point_survives_kill_9_once_append_returns(tmp_path):
    path = tmp_path / "journal.jsonl"
    child = textwrap.dedent(f"""
        import os, signal, sys
        sys.path.insert(0, {str(ROOT)!r})
        from tests.unit.test_sweep_journal import HEADER, point
        from pnsuite.sweep.journal import Journal
        journal = Journal.open({str(path)!r}, HEADER)
        journal.append(point(2, 4, 321.0))
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    done = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == -signal.SIGKILL, done.stderr
    recorded = Journal.open(path, HEADER).points()
    assert recorded == {point(2, 4).key: point(2, 4, 321.0)}
