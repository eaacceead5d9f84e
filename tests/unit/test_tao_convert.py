"""tao/convert-etlt.sh, tao/convert-onnx.sh and tao/onnx_io_names.py, as far as they run here.

This machine has no NVIDIA device, tao-converter or trtexec, and NGC is out of reach, so
the real conversion is only checked on a Jetson. What is checked here for real: the input
checks and their messages, the exact converter command lines (recorded by stand-ins for
nvidia-smi, tao-converter and trtexec), placing one plan in both repositories, failures
leaving nothing behind, and the ONNX tensor check and rename (with the real onnx package).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TAO = ROOT / "tao"
REPOS = ("sample_1_instances", "sample_2_dynamic_batching")
INSTALL = "bash ci/install-static-tools.sh"


def tools_python(module: str) -> str:
    """An interpreter that can import `module`: this one, or ci/install-static-tools.sh's venv."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    tools = Path(os.environ.get("PNSUITE_TOOLS") or cache / "peoplenet-suite" / "tools")
    for candidate in (sys.executable, str(tools / "venv" / "bin" / "python")):
        if Path(candidate).exists() and subprocess.run(
                [candidate, "-c", f"import {module}"], capture_output=True).returncode == 0:
            return candidate
    pytest.skip(f"no Python here can import {module} ({INSTALL} makes a tools venv with it)")


def _on_nvidia_device() -> bool:
    return Path("/etc/nv_tegra_release").exists() or shutil.which("nvidia-smi") is not None


def _stand_in(bin_dir: Path, name: str, body: str) -> None:
    """An executable `name` that logs its argv (one per line) to <bin_dir>/<name>.args."""
    path = bin_dir / name
    path.write_text(f"#!/usr/bin/env bash\nprintf '%s\\n' \"$@\" > '{bin_dir}/{name}.args'\n{body}\n")
    path.chmod(0o755)


@pytest.fixture
def world(tmp_path: Path) -> dict:
    """A copy of the TensorRT repos, a model file, and a bin dir with a stand-in nvidia-smi."""
    repos = tmp_path / "repos"
    for r in REPOS:
        # Configs only: a plan already built on this machine must not leak into the test.
        shutil.copytree(ROOT / "model_repos" / "tensorrt" / r, repos / r,
                        ignore=shutil.ignore_patterns("model.plan*"))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _stand_in(bin_dir, "nvidia-smi", "echo 'GPU 0: stand-in GPU (UUID: GPU-0)'")
    etlt = tmp_path / "resnet34_peoplenet_pruned.etlt"
    etlt.write_bytes(b"encrypted model bytes")
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "HOME": str(tmp_path),
           "TMPDIR": str(tmp_path)}
    for var in ("PEOPLENET_ETLT", "PEOPLENET_ONNX", "PEOPLENET_KEY", "TAO_CONVERTER", "TRTEXEC", "PYTHON"):
        env.pop(var, None)
    return {"tmp": tmp_path, "repos": [repos / r for r in REPOS], "bin": bin_dir, "etlt": etlt,
            "env": env}


def _run(script: str, args: list, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([str(TAO / script), *map(str, args)], env=env, capture_output=True,
                          text=True, timeout=120)


def _repo_args(world: dict) -> list:
    return [a for r in world["repos"] for a in ("--repo", r)]


def _plans(world: dict) -> list[Path]:
    return [r / "peoplenet" / "1" / "model.plan" for r in world["repos"]]


def _leftovers(world: dict) -> list[Path]:
    """Temporary plans in the repos and build dirs in TMPDIR that should be gone."""
    tmp = [p for r in world["repos"] for p in (r / "peoplenet" / "1").glob("model.plan.tmp.*")]
    return tmp + list(world["tmp"].glob("peoplenet-plan.*"))


# ---------------------------------------------------------------- input checks

@pytest.mark.parametrize("script", ["convert-etlt.sh", "convert-onnx.sh"])
def test_missing_inputs_are_all_named_with_how_to_get_them(script, tmp_path):
    if _on_nvidia_device():
        pytest.skip("this machine has an NVIDIA device: the no-device message cannot be seen")
    env = {**os.environ, "HOME": str(tmp_path), "PYTHON": sys.executable}
    for var in ("PEOPLENET_ETLT", "PEOPLENET_ONNX", "TAO_CONVERTER", "TRTEXEC"):
        env.pop(var, None)
    out = _run(script, ["--model", tmp_path / "absent.model"], env)
    assert out.returncode == 2
    assert "no NVIDIA device here" in out.stderr and "/etc/nv_tegra_release" in out.stderr
    assert f"model not found: {tmp_path / 'absent.model'}" in out.stderr
    assert "NGC" in out.stderr and "nvidia/tao/peoplenet" in out.stderr
    tool = "tao-converter" if script == "convert-etlt.sh" else "trtexec"
    assert f"{tool} not found" in out.stderr


def test_not_a_model_repository_is_refused(world):
    _stand_in(world["bin"], "tao-converter", "exit 0")
    out = _run("convert-etlt.sh", ["--model", world["etlt"], "--repo", world["tmp"]], world["env"])
    assert out.returncode == 2
    assert f"not a PeopleNet model repository (no peoplenet/config.pbtxt): {world['tmp']}" in out.stderr


def test_check_only_converts_nothing(world):
    _stand_in(world["bin"], "tao-converter", "exit 0")
    out = _run("convert-etlt.sh", ["--check", "--model", world["etlt"], *_repo_args(world)], world["env"])
    assert out.returncode == 0, out.stderr
    assert "check only" in out.stdout and "device: GPU 0: stand-in GPU" in out.stdout
    assert not (world["bin"] / "tao-converter.args").exists()
    assert not any(p.exists() for p in _plans(world))


# ---------------------------------------------------------------- .etlt

def test_etlt_runs_the_seeds_command_and_places_one_plan_in_both_repos(world):
    _stand_in(world["bin"], "tao-converter",
              'while [ $# -gt 0 ]; do if [ "$1" = -e ]; then echo "engine for $*" > "$2"; fi; shift; done')
    out = _run("convert-etlt.sh", ["--model", world["etlt"], *_repo_args(world)], world["env"])
    assert out.returncode == 0, out.stderr
    argv = (world["bin"] / "tao-converter.args").read_text().splitlines()
    engine = argv[argv.index("-e") + 1]
    assert argv == ["-k", "tlt_encode", "-d", "3,544,960", "-i", "nchw", "-t", "fp16",
                    "-b", "16", "-m", "64", "-o", "output_cov/Sigmoid,output_bbox/BiasAdd",
                    "-e", engine, str(world["etlt"])]
    plans = _plans(world)
    assert all(p.is_file() for p in plans)
    assert plans[0].read_bytes() == plans[1].read_bytes() != b""
    assert not _leftovers(world), "the build dir and temporary copies are removed"
    assert "tlt_encode" not in out.stdout and " -k *** -d 3,544,960 " in out.stdout


def test_etlt_key_can_be_given(world):
    _stand_in(world["bin"], "tao-converter",
              'while [ $# -gt 0 ]; do if [ "$1" = -e ]; then echo plan > "$2"; fi; shift; done')
    out = _run("convert-etlt.sh", ["--model", world["etlt"], "--key", "other_key", *_repo_args(world)],
               world["env"])
    assert out.returncode == 0, out.stderr
    argv = (world["bin"] / "tao-converter.args").read_text().splitlines()
    assert argv[:2] == ["-k", "other_key"] and "other_key" not in out.stdout


def test_a_failed_conversion_places_nothing(world):
    _stand_in(world["bin"], "tao-converter", "echo 'Error: wrong key' >&2; exit 1")
    out = _run("convert-etlt.sh", ["--model", world["etlt"], *_repo_args(world)], world["env"])
    assert out.returncode == 1 and "wrong key" in out.stderr
    assert not any(p.exists() for p in _plans(world))
    assert not _leftovers(world)


def test_a_converter_that_writes_no_plan_is_caught(world):
    _stand_in(world["bin"], "tao-converter", "exit 0")
    out = _run("convert-etlt.sh", ["--model", world["etlt"], *_repo_args(world)], world["env"])
    assert out.returncode == 1 and "wrote no plan" in out.stderr
    assert not any(p.exists() for p in _plans(world))


# ---------------------------------------------------------------- ONNX

def _make_onnx(python: str, path: Path, names: tuple[str, str, str], batch: int | str = "N") -> None:
    """A tiny graph with PeopleNet's tensor names and shapes (not PeopleNet's weights)."""
    script = textwrap.dedent(f"""
        import onnx
        from onnx import TensorProto, helper
        inp, cov, bbox = {names!r}
        b = {batch!r}
        x = helper.make_tensor_value_info(inp, TensorProto.FLOAT, [b, 3, 544, 960])
        c = helper.make_tensor_value_info(cov, TensorProto.FLOAT, [b, 3, 34, 60])
        o = helper.make_tensor_value_info(bbox, TensorProto.FLOAT, [b, 12, 34, 60])
        nodes = [
            helper.make_node("AveragePool", [inp], ["pooled"], kernel_shape=[16, 16], strides=[16, 16]),
            helper.make_node("Sigmoid", ["pooled"], [cov]),
            helper.make_node("Concat", ["pooled", "pooled", "pooled", "pooled"], [bbox], axis=1),
        ]
        graph = helper.make_graph(nodes, "peoplenet_shape", [x], [c, o])
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
        onnx.checker.check_model(model)
        onnx.save(model, {str(path)!r})
    """)
    subprocess.run([python, "-c", script], check=True)


def _io_names(python: str, path: Path) -> dict:
    script = ("import json, onnx, sys; g = onnx.load(sys.argv[1]).graph; "
              "print(json.dumps({'in': [i.name for i in g.input], 'out': [o.name for o in g.output], "
              "'nodes': sorted({n for node in g.node for n in [*node.input, *node.output]})}))")
    return json.loads(subprocess.run([python, "-c", script, str(path)], check=True,
                                     capture_output=True, text=True).stdout)


TF_NAMES = ("input_1:0", "output_cov/Sigmoid:0", "output_bbox/BiasAdd:0")
PLAIN = ("input_1", "output_cov/Sigmoid", "output_bbox/BiasAdd")


def test_onnx_runs_trtexec_for_batch_1_to_64_on_renamed_tensors(world):
    python = tools_python("onnx")
    model = world["tmp"] / "resnet34_peoplenet_int8.onnx"
    _make_onnx(python, model, TF_NAMES)
    seen = world["tmp"] / "seen.onnx"
    _stand_in(world["bin"], "trtexec", textwrap.dedent(f"""
        for a in "$@"; do
          case "$a" in
            --onnx=*) cp "${{a#--onnx=}}" '{seen}' ;;
            --saveEngine=*) echo engine > "${{a#--saveEngine=}}" ;;
          esac
        done"""))
    out = _run("convert-onnx.sh", ["--model", model, "--python", python, *_repo_args(world)], world["env"])
    assert out.returncode == 0, out.stderr
    argv = (world["bin"] / "trtexec.args").read_text().splitlines()
    assert argv[0].startswith("--onnx=") and argv[0] != f"--onnx={model}", "a renamed copy is built"
    assert argv[1].startswith("--saveEngine=")
    assert argv[2:] == ["--minShapes=input_1:1x3x544x960", "--optShapes=input_1:16x3x544x960",
                        "--maxShapes=input_1:64x3x544x960", "--fp16"]
    names = _io_names(python, seen)
    assert names["in"] == ["input_1"] and names["out"] == list(PLAIN[1:])
    assert not any(n.endswith(":0") for n in names["nodes"])
    assert _io_names(python, model)["in"] == ["input_1:0"], "the downloaded model is untouched"
    plans = _plans(world)
    assert all(p.read_text() == "engine\n" for p in plans)
    assert not _leftovers(world)
    assert "renamed input_1:0 -> input_1" in out.stderr


def test_onnx_int8_with_calibration_cache(world):
    python = tools_python("onnx")
    model = world["tmp"] / "peoplenet.onnx"
    _make_onnx(python, model, PLAIN)
    calib = world["tmp"] / "peoplenet_int8.txt"
    calib.write_text("TRT-8601-EntropyCalibration2\n")
    _stand_in(world["bin"], "trtexec",
              'for a in "$@"; do case "$a" in --saveEngine=*) echo e > "${a#--saveEngine=}";; esac; done')
    out = _run("convert-onnx.sh", ["--model", model, "--python", python, "--calib", calib,
                                   *_repo_args(world)], world["env"])
    assert out.returncode == 0, out.stderr
    argv = (world["bin"] / "trtexec.args").read_text().splitlines()
    assert argv[0] == f"--onnx={model}", "names already fit: the model is used as it is"
    assert argv[-3:] == ["--fp16", "--int8", f"--calib={calib}"]


@pytest.mark.parametrize("names, batch, message", [
    (TF_NAMES, 1, "fixed batch of 1"),
    (("images", "output_cov/Sigmoid", "output_bbox/BiasAdd"), "N", "expected one input 'input_1'"),
    (("input_1", "cov", "output_bbox/BiasAdd"), "N", "no output 'output_cov/Sigmoid'"),
])
def test_onnx_that_breaks_the_contract_is_refused(world, names, batch, message):
    python = tools_python("onnx")
    model = world["tmp"] / "other.onnx"
    _make_onnx(python, model, names, batch)
    _stand_in(world["bin"], "trtexec", "exit 0")
    out = _run("convert-onnx.sh", ["--model", model, "--python", python, *_repo_args(world)], world["env"])
    assert out.returncode == 2 and message in out.stderr
    assert not (world["bin"] / "trtexec.args").exists(), "trtexec never ran"
    assert not any(p.exists() for p in _plans(world))
