"""Check an ONNX PeopleNet against the suite's tensor contract and fix its tensor names.

NGC's ONNX versions of PeopleNet name their tensors the TensorFlow way, `input_1:0`,
`output_cov/Sigmoid:0` and `output_bbox/BiasAdd:0`, while the Triton configs (and the
Triton Jetson example's .etlt engine) use `input_1`, `output_cov/Sigmoid` and `output_bbox/BiasAdd`. A
TensorRT engine keeps the ONNX names, and Triton refuses a config whose names differ, so
this writes a copy with the `:0` dropped before trtexec builds it.

    python3 tao/onnx_io_names.py MODEL.onnx OUT.onnx

Prints the path trtexec should read (MODEL.onnx itself when its names already fit) and
exits 2 with the reasons when the model does not fit the contract. Needs the `onnx`
package (`pip3 install onnx`).
"""

from __future__ import annotations

import sys
from typing import Any

INPUT = "input_1"
OUTPUTS = ("output_cov/Sigmoid", "output_bbox/BiasAdd")
CHW = (3, 544, 960)


def _dims(value_info: Any) -> list[int | str]:
    """A tensor's dims: ints where fixed, the symbol (or '?') where dynamic."""
    out: list[int | str] = []
    for d in value_info.type.tensor_type.shape.dim:
        out.append(d.dim_value if d.HasField("dim_value") else (d.dim_param or "?"))
    return out


def _plain(name: str) -> str:
    return name[:-2] if name.endswith(":0") else name


def check(model: Any) -> tuple[dict[str, str], list[str]]:
    """The renames the graph needs ({old: new}) and the ways it breaks the contract."""
    graph = model.graph
    initializers = {t.name for t in graph.initializer}
    inputs = [i for i in graph.input if i.name not in initializers]
    problems: list[str] = []
    renames: dict[str, str] = {}
    if len(inputs) != 1 or _plain(inputs[0].name) != INPUT:
        problems.append(f"expected one input {INPUT!r} (or {INPUT + ':0'!r}), found "
                        f"{[i.name for i in inputs]}")
    else:
        dims = _dims(inputs[0])
        if len(dims) != 4 or tuple(dims[1:]) != CHW:
            problems.append(f"input {inputs[0].name!r} has dims {dims}, expected [batch, 3, 544, 960]")
        elif isinstance(dims[0], int) and dims[0] > 0:
            problems.append(f"input {inputs[0].name!r} has a fixed batch of {dims[0]}; "
                            "max_batch_size 64 needs a dynamic batch dimension")
        if inputs[0].name != INPUT:
            renames[inputs[0].name] = INPUT
    found = {_plain(o.name): o.name for o in graph.output}
    for want in OUTPUTS:
        if want not in found:
            problems.append(f"no output {want!r} (outputs: {[o.name for o in graph.output]})")
        elif found[want] != want:
            renames[found[want]] = want
    return renames, problems


def rename(model: Any, renames: dict[str, str]) -> None:
    """Rename tensors everywhere they are referenced: graph inputs/outputs, nodes, value_info."""
    graph = model.graph
    for vi in [*graph.input, *graph.output, *graph.value_info]:
        if vi.name in renames:
            vi.name = renames[vi.name]
    for node in graph.node:
        for i, name in enumerate(node.input):
            if name in renames:
                node.input[i] = renames[name]
        for i, name in enumerate(node.output):
            if name in renames:
                node.output[i] = renames[name]


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        import onnx
    except ImportError:
        print("the onnx Python package is missing: pip3 install onnx", file=sys.stderr)
        return 3
    src, dst = argv
    model = onnx.load(src)
    renames, problems = check(model)
    if problems:
        print(f"{src} does not fit PeopleNet's contract:", file=sys.stderr)
        for p in problems:
            print(f"  - {p}", file=sys.stderr)
        return 2
    if not renames:
        print(src)
        return 0
    rename(model, renames)
    onnx.checker.check_model(model)
    onnx.save(model, dst)
    for old, new in renames.items():
        print(f"renamed {old} -> {new}", file=sys.stderr)
    print(dst)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
