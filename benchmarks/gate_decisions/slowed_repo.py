"""A copy of a model repository whose model is slower by a fraction the gate cannot see.

The config (and so its digest and model identity) stays the same; only `model.py`
changes: after the original's own code, `TritonPythonModel.execute` is wrapped to
busy-wait for the given fraction of each call's time. Used by collect.py and by
gpu/run_gpu_validation.sh's gate part.

    python benchmarks/gate_decisions/slowed_repo.py REPO DEST FRACTION
"""

from __future__ import annotations

import sys
from pathlib import Path

from pnsuite.repository import model_config

WRAPPER = '''

# --- made slower for the gate's error-rate benchmark (benchmarks/gate_decisions) ---
import time as _time

_Original = TritonPythonModel


class TritonPythonModel(_Original):
    """The model above, every execute() {fraction:.0%} slower (busy-waiting)."""

    def execute(self, requests):
        began = _time.perf_counter()
        responses = super().execute(requests)
        until = began + (_time.perf_counter() - began) * {factor!r}
        while _time.perf_counter() < until:
            pass
        return responses
'''


def write_slowed(repo: Path, dest: Path, fraction: float, **changes: object) -> Path:
    """`repo` at `dest` (config changes as model_config.write_variant takes them), its
    model's execute() slowed by `fraction` when it is above 0."""
    out = model_config.write_variant(Path(repo), Path(dest), **changes)  # type: ignore[arg-type]
    if fraction > 0:
        version = out / "peoplenet" / "1"
        original = (version / "model.py").read_text()
        version.unlink()  # a symlink to the original version dir
        version.mkdir()
        (version / "model.py").write_text(
            original + WRAPPER.format(fraction=fraction, factor=1.0 + fraction))
    return out


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__.strip().splitlines()[-1].strip())
    print(write_slowed(Path(sys.argv[1]), Path(sys.argv[2]), float(sys.argv[3])))
