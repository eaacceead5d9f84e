"""A copy of a model repository whose model is slower by a fraction the gate cannot see.

The config (and so its digest and model identity) stays the same; only `model.py`
changes: after the original's own code, `TritonPythonModel.execute` is wrapped to
busy-wait for the given fraction of each cycle of the instance (execute() and the
backend's hand-over before it), so a saturated instance serves that fraction slower end to
end. It works for any python-backend model (the CPU and GPU stand-ins); a TensorRT plan
has no model.py to wrap, and is refused.
The gate's end-to-end tests and its error-rate benchmark (benchmarks/gate_decisions) use it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from pnsuite.errors import SuiteError
from pnsuite.repository import model_config

if TYPE_CHECKING:
    from typing_extensions import Unpack  # typing's own from Python 3.11

_WRAPPER = '''

# --- made slower by pnsuite/repository/slowed.py (the gate's own tests) ---
import time as _time

_Original = TritonPythonModel


class TritonPythonModel(_Original):
    """The model above, every execute() cycle {fraction:.0%} longer (busy-waiting)."""

    _last_began = None
    _last_added = 0.0

    def execute(self, requests):
        began = _time.perf_counter()
        responses = super().execute(requests)
        own = _time.perf_counter() - began
        # The instance's cycle is execute() plus the backend's hand-over around it: wait
        # a fraction of the whole cycle, so that a saturated instance serves that much
        # slower end to end (a fraction of execute() alone would be diluted by the
        # hand-over). A gap longer than execute() itself is the instance idling for
        # work, which no slower model would lengthen: then execute() alone counts.
        cycle = own
        if self._last_began is not None:
            natural = began - self._last_began - self._last_added
            if own <= natural <= 2 * own:
                cycle = natural
        added = cycle * {fraction!r}
        until = _time.perf_counter() + added
        while _time.perf_counter() < until:
            pass
        self._last_began, self._last_added = began, added
        return responses
'''


class NotSlowable(SuiteError):
    """The repository's model has no model.py whose execute() could be wrapped."""

    default_hint = (
        "use a python-backend repository (the stand-ins); a TensorRT plan "
        "cannot be slowed without changing what the gate would see"
    )


def slowable(repo: Path) -> bool:
    """Whether `repo`'s model is a python-backend model.py that can be slowed."""
    return (Path(repo) / "peoplenet" / "1" / "model.py").is_file()


def write_slowed(
    repo: Path, dest: Path, fraction: float, **changes: Unpack[model_config.ConfigChanges]
) -> Path:
    """`repo` at `dest` (config changes as model_config.write_variant takes them), its
    model's cycle slowed by `fraction` when it is above 0."""
    if fraction > 0 and not slowable(repo):
        raise NotSlowable(f"{repo}: no peoplenet/1/model.py to slow down")
    out = model_config.write_variant(Path(repo), Path(dest), **changes)
    if fraction > 0:
        version = out / "peoplenet" / "1"
        original = (version / "model.py").read_text()
        if version.is_symlink():
            version.unlink()  # a link to the original version dir: write a copy of our own
        else:
            (version / "model.py").unlink()
        version.mkdir(exist_ok=True)
        (version / "model.py").write_text(original + _WRAPPER.format(fraction=fraction))
    return out
