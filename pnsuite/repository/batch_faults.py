"""Copies of a model repository with a planted fault that only batching reveals.

Each fault wraps `TritonPythonModel.execute` in the copy's `model.py` (as
pnsuite/repository/slowed.py does) and touches only executions of more than one
request, so a request sent alone, the answer check, the goldens and the references of
the check under load all see the model as it was. The config, and so the model's
identity and its goldens, stay the same. The tests of the check under load
(tests/perf/test_answers_under_load.py) plant them.
"""

from __future__ import annotations

import enum
from pathlib import Path

from pnsuite.errors import SuiteError
from pnsuite.repository import model_config


class BatchFault(str, enum.Enum):
    """What a planted fault does to an execution of several requests."""

    #: each request gets the next request's answer (the last gets the first's): answers
    #: handed to the wrong requests of a batch
    ROTATED = "rotated"
    #: every request gets the first request's answer: one output buffer shared by all
    FIRST_FOR_ALL = "first-for-all"
    #: every request but the first gets the answer of its position in the previous
    #: execution of several: an output buffer reused before it was read
    STALE = "stale"

    def __str__(self) -> str:
        return self.value


_WRAPPER = '''

# --- a planted batching fault, by pnsuite/repository/batch_faults.py (tests only) ---
import triton_python_backend_utils as _pb

_Original = TritonPythonModel


def _arrays(response):
    return [(t.name(), t.as_numpy().copy()) for t in response.output_tensors()]


def _response(arrays):
    return _pb.InferenceResponse(output_tensors=[_pb.Tensor(n, a) for n, a in arrays])


def _copy(response):
    """A new response with the same output tensors (one response object per request)."""
    return _response(_arrays(response))


def _stale(model, responses):
    previous, model._previous = getattr(model, "_previous", []), [_arrays(r) for r in responses]
    return [responses[0]] + [_response(previous[i]) if i < len(previous) else r
                             for i, r in enumerate(responses[1:], 1)]


class TritonPythonModel(_Original):
    """The model above, its answers in executions of several requests {what}."""

    def execute(self, requests):
        responses = super().execute(requests)
        if len(responses) < 2:
            return responses
        return {transform}
'''

_TRANSFORMS = {
    BatchFault.ROTATED: (
        "handed to the next request",
        "[_copy(r) for r in responses[1:] + responses[:1]]",
    ),
    BatchFault.FIRST_FOR_ALL: (
        "all the first request's",
        "[_copy(responses[0]) for _ in responses]",
    ),
    BatchFault.STALE: (
        "but the first's those of the previous such execution",
        "_stale(self, responses)",
    ),
}


class NotFaultable(SuiteError):
    """The repository's model has no model.py whose execute() could be wrapped."""

    default_hint = "use a python-backend repository (the stand-ins)"


def write_faulty(repo: Path, dest: Path, fault: BatchFault | str, **changes: object) -> Path:
    """`repo` at `dest` (config changes as model_config.write_variant takes them), its
    model's execute() wrapped with `fault`."""
    fault = BatchFault(fault)
    repo = Path(repo)
    if not (repo / "peoplenet" / "1" / "model.py").is_file():
        raise NotFaultable(f"{repo}: no peoplenet/1/model.py to plant {fault} in")
    out = model_config.write_variant(repo, Path(dest), **changes)  # type: ignore[arg-type]
    version = out / "peoplenet" / "1"
    original = (version / "model.py").read_text()
    if version.is_symlink():
        version.unlink()  # a link to the original version dir: write a copy of our own
    else:
        (version / "model.py").unlink()
    version.mkdir(exist_ok=True)
    what, transform = _TRANSFORMS[fault]
    (version / "model.py").write_text(original + _WRAPPER.format(what=what, transform=transform))
    return out
