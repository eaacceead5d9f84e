"""A server someone else runs (--triton-launcher external): the suite's own tests run
against it, and what they record says it was an external server, not a local repository."""

from __future__ import annotations

import json
import subprocess
import sys

from pnsuite.paths import EMBEDDED_REPOS, PROJECT_ROOT


def test_tests_against_an_external_server_record_it_as_external(make_server, tmp_path):
    served = make_server(EMBEDDED_REPOS / "sample_1_instances")
    out = tmp_path / "external.json"
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rs",
         "--triton-launcher", "external", "--triton-url", served.grpc_url,
         "tests/functional/test_model_contract.py",
         "tests/perf/test_benchmarks.py::test_throughput", "-k", "contract or c1",
         "--benchmark-save-data", f"--benchmark-json={out}"],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    # The contract is checked on the server itself; what only a local repository can
    # tell (its declared instances and batching) is skipped, saying why.
    assert "an external server's config.pbtxt is not on this machine" in run.stdout
    record = json.loads(out.read_text())
    [bench] = record["benchmarks"]
    assert bench["extra_info"]["repo"] == "external", bench["extra_info"]
    assert record["machine_info"]["launcher"] == "external"
    assert record["machine_info"]["server"] == served.grpc_url
    assert served.running  # used, never stopped
