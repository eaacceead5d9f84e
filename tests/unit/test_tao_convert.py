"""tao/convert-etlt.sh, tao/convert-onnx.sh and tao/onnx_io_names.py, as far as they run here.

This machine has no NVIDIA device, tao-converter or trtexec, and NGC is out of reach, so
the real conversion is only checked on a Jetson. What is checked here for real: the input
checks and their messages, the exact converter command lines (recorded by stand-ins for
nvidia-smi, tao-converter, trtexec and dpkg-query), placing one plan with its engine.json
in both repositories, failures leaving nothing behind, and the ONNX tensor check and rename
(with the real onnx package).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TAO = ROOT / "tao"
REPOS = ("sample_1_instances", "sample_2_dynamic_batching")
INSTALL = "bash ci/install-static-tools.sh"
STAND_IN_GPU = "GPU 0: stand-in GPU (UUID: GPU-0)"
MANIFEST_KEYS = ["format", "plan_sha256", "tensorrt_version", "precision", "source_model",
                 "converter", "converter_command", "device", "built_at"]

# Converter stand-ins that write a plan where they are told to; trtexec's also prints the
# version line the real one prints, tao-converter's (like the real one) does not.
TAO_CONVERTER_WRITES_PLAN = (
    'while [ $# -gt 0 ]; do if [ "$1" = -e ]; then echo "engine for $*" > "$2"; fi; shift; done')
TRTEXEC_WRITES_PLAN = textwrap.dedent("""
    echo '[12/01/2026-10:00:00] [I] TensorRT version: 8.6.2'
    for a in "$@"; do
      case "$a" in --saveEngine=*) echo "engine for $*" > "${a#--saveEngine=}" ;; esac
    done
    echo '[12/01/2026-10:00:05] [I] Engine built in 5.0 sec.'""")


@functools.cache
def _importing_python(module: str) -> str | None:
    """An interpreter that can import `module`: this one, or ci/install-static-tools.sh's
    venv (probed once a session: each probe imports the module, seconds for onnx)."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    tools = Path(os.environ.get("PNSUITE_TOOLS") or cache / "peoplenet-suite" / "tools")
    for candidate in (sys.executable, str(tools / "venv" / "bin" / "python")):
        if Path(candidate).exists() and subprocess.run(
                [candidate, "-c", f"import {module}"], check=False,
                capture_output=True).returncode == 0:
            return candidate
    return None


def tools_python(module: str) -> str:
    """An interpreter that can import `module`, or skip saying how to get one."""
    python = _importing_python(module)
    if python is None:
        pytest.skip(f"no Python here can import {module} ({INSTALL} makes a tools venv with it)")
    return python


def _on_nvidia_device() -> bool:
    return Path("/etc/nv_tegra_release").exists() or shutil.which("nvidia-smi") is not None


def _stand_in(bin_dir: Path, name: str, body: str) -> None:
    """An executable `name` that logs its argv (one per line) to <bin_dir>/<name>.args."""
    path = bin_dir / name
    path.write_text(f"#!/usr/bin/env bash\nprintf '%s\\n' \"$@\" > '{bin_dir}/{name}.args'\n{body}\n")
    path.chmod(0o755)


def _dpkg_query(bin_dir: Path, packages: dict[str, tuple[str, str]]) -> None:
    """A stand-in dpkg-query -W -f=FORMAT PKG that knows `packages` {name: (status, version)}.

    It fills ${Status} and ${Version} into whatever format it is given, as the real one does,
    and fails with dpkg-query's message for any other package. Each package asked about is
    appended to <bin_dir>/dpkg-query.asked.
    """
    cases = "".join(f"  {name}) status='{status}'; version='{version}' ;;\n"
                    for name, (status, version) in packages.items())
    _stand_in(bin_dir, "dpkg-query", textwrap.dedent("""
        pkg=${!#}; fmt=""
        echo "$pkg" >> "$(dirname "$0")/dpkg-query.asked"
        for a in "$@"; do case "$a" in -f=*) fmt=${a#-f=} ;; esac; done
        case "$pkg" in
        """) + cases + textwrap.dedent("""
          *) echo "dpkg-query: no packages found matching $pkg" >&2; exit 1 ;;
        esac
        fmt=${fmt//'${Status}'/$status}; fmt=${fmt//'${Version}'/$version}
        printf '%b' "$fmt"
        """))


@pytest.fixture
def world(tmp_path: Path) -> dict:
    """A copy of the TensorRT repos, a model file, and a bin dir with a stand-in nvidia-smi."""
    repos = tmp_path / "repos"
    for r in REPOS:
        # Configs only: a plan already built on this machine must not leak into the test.
        shutil.copytree(ROOT / "model_repos" / "tensorrt" / r, repos / r,
                        ignore=shutil.ignore_patterns("model.plan*", "engine.json*"))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _stand_in(bin_dir, "nvidia-smi", f"echo '{STAND_IN_GPU}'")
    # No TensorRT package and no tensorrt module, whatever this machine has: a test that
    # wants one puts it there.
    _dpkg_query(bin_dir, {})
    py_dir = tmp_path / "pylib"
    py_dir.mkdir()
    (py_dir / "tensorrt.py").write_text("raise ImportError('hidden by the test')\n")
    etlt = tmp_path / "resnet34_peoplenet_pruned.etlt"
    etlt.write_bytes(b"encrypted model bytes")
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "HOME": str(tmp_path),
           "TMPDIR": str(tmp_path),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(py_dir), os.environ.get("PYTHONPATH")]))}
    for var in ("PEOPLENET_ETLT", "PEOPLENET_ONNX", "PEOPLENET_KEY", "PEOPLENET_NGC_VERSION",
                "TAO_CONVERTER", "TRTEXEC", "PYTHON"):
        env.pop(var, None)
    return {"tmp": tmp_path, "repos": [repos / r for r in REPOS], "bin": bin_dir, "etlt": etlt,
            "py": py_dir, "env": env}


def _run(script: str, args: list, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([str(TAO / script), *map(str, args)], env=env, check=False,
                          capture_output=True, text=True, timeout=120)


def _repo_args(world: dict) -> list:
    return [a for r in world["repos"] for a in ("--repo", r)]


def _plans(world: dict) -> list[Path]:
    return [r / "peoplenet" / "1" / "model.plan" for r in world["repos"]]


def _manifest_paths(world: dict) -> list[Path]:
    return [r / "peoplenet" / "1" / "engine.json" for r in world["repos"]]


def _manifests(world: dict) -> list[dict]:
    """Both repos' engine.json, checked to be there with exactly the documented keys."""
    found = [json.loads(p.read_text()) for p in _manifest_paths(world)]
    assert all(list(m) == MANIFEST_KEYS for m in found)
    return found


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _shown_command(out: subprocess.CompletedProcess) -> str:
    """The command line the script printed after 'running: '."""
    return re.search(r"^running: (.*)$", out.stdout, re.MULTILINE).group(1)


def _leftovers(world: dict) -> list[Path]:
    """Temporary plans and manifests in the repos and build dirs in TMPDIR that should be gone."""
    tmp = [p for r in world["repos"] for pattern in ("model.plan.tmp.*", "engine.json.tmp.*")
           for p in (r / "peoplenet" / "1").glob(pattern)]
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
    assert not any(p.exists() for p in _manifest_paths(world))
    assert "NGC version nvidia/tao/peoplenet:pruned_v2.1, fp16" in out.stdout


def test_a_malformed_ngc_version_is_refused_before_converting(world):
    _stand_in(world["bin"], "tao-converter", TAO_CONVERTER_WRITES_PLAN)
    out = _run("convert-etlt.sh", ["--model", world["etlt"], "--ngc-version", "pruned_v2.1",
                                   *_repo_args(world)], world["env"])
    assert out.returncode == 2
    assert "--ngc-version must be NAME:VERSION" in out.stderr and "(got: pruned_v2.1)" in out.stderr
    assert not (world["bin"] / "tao-converter.args").exists()


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


def test_etlt_writes_engine_json_beside_each_plan(world):
    _stand_in(world["bin"], "tao-converter", TAO_CONVERTER_WRITES_PLAN)
    # tensorrt only half there (removed, config kept); libnvinfer-bin installed and asked
    # before libnvinfer8, which must not be asked at all.
    _dpkg_query(world["bin"], {"tensorrt": ("deinstall ok config-files", "8.5.2.2-1+cuda11.4"),
                               "libnvinfer-bin": ("install ok installed", "8.6.2.3-1+cuda12.2"),
                               "libnvinfer8": ("install ok installed", "8.4.1.5-1+cuda11.4")})
    before = datetime.now(timezone.utc).replace(microsecond=0)
    out = _run("convert-etlt.sh", ["--model", world["etlt"], *_repo_args(world)], world["env"])
    assert out.returncode == 0, out.stderr
    plans = _plans(world)
    for plan, manifest in zip(plans, _manifests(world)):
        assert manifest["format"] == 1
        assert manifest["plan_sha256"] == _sha256(plan)
        assert manifest["tensorrt_version"] == "8.6.2.3", "from dpkg, Debian revision dropped"
        assert manifest["precision"] == "fp16"
        assert manifest["source_model"] == {"file": "resnet34_peoplenet_pruned.etlt",
                                            "sha256": _sha256(world["etlt"]),
                                            "ngc_version": "nvidia/tao/peoplenet:pruned_v2.1"}
        assert manifest["converter"] == "tao-converter"
        assert manifest["converter_command"] == _shown_command(out)
        assert " -k *** -d 3,544,960 " in manifest["converter_command"]
        assert manifest["device"] == STAND_IN_GPU
        built = datetime.strptime(manifest["built_at"], "%Y-%m-%dT%H:%M:%SZ")
        built = built.replace(tzinfo=timezone.utc)
        assert before <= built <= datetime.now(timezone.utc) + timedelta(seconds=1)
    assert (world["bin"] / "dpkg-query.asked").read_text().split() == ["tensorrt", "libnvinfer-bin"]
    assert all("tlt_encode" not in p.read_text() for p in _manifest_paths(world))
    assert not _leftovers(world)
    assert "warning" not in out.stderr


@pytest.mark.parametrize("file_name, args, env, expected", [
    ("resnet34_peoplenet_pruned.etlt", [], {}, "nvidia/tao/peoplenet:pruned_v2.1"),
    ("peoplenet_other.etlt", [], {}, ""),
    ("resnet34_peoplenet_pruned.etlt", ["--ngc-version", "nvidia/tao/peoplenet:pruned_v2.0"], {},
     "nvidia/tao/peoplenet:pruned_v2.0"),
    ("peoplenet_other.etlt", [], {"PEOPLENET_NGC_VERSION": "nvidia/tao/peoplenet:pruned_v1.0"},
     "nvidia/tao/peoplenet:pruned_v1.0"),
])
def test_etlt_ngc_version_is_given_or_known_from_the_examples_file_name(
        world, file_name, args, env, expected):
    _stand_in(world["bin"], "tao-converter", TAO_CONVERTER_WRITES_PLAN)
    model = world["tmp"] / "download" / file_name
    model.parent.mkdir()
    model.write_bytes(b"other encrypted bytes")
    out = _run("convert-etlt.sh", ["--model", model, *args, *_repo_args(world)],
               {**world["env"], **env})
    assert out.returncode == 0, out.stderr
    for manifest in _manifests(world):
        assert manifest["source_model"] == {"file": file_name, "sha256": _sha256(model),
                                            "ngc_version": expected}


def test_tensorrt_version_falls_back_to_the_python_module(world):
    _stand_in(world["bin"], "tao-converter", TAO_CONVERTER_WRITES_PLAN)
    (world["py"] / "tensorrt.py").write_text("__version__ = '10.3.0'\n")
    out = _run("convert-etlt.sh", ["--model", world["etlt"], *_repo_args(world)], world["env"])
    assert out.returncode == 0, out.stderr
    assert (world["bin"] / "dpkg-query.asked").read_text().split() == \
        ["tensorrt", "libnvinfer-bin", "libnvinfer10", "libnvinfer8"]
    assert [m["tensorrt_version"] for m in _manifests(world)] == ["10.3.0", "10.3.0"]


def test_unknown_tensorrt_version_is_recorded_with_a_warning(world):
    _stand_in(world["bin"], "tao-converter", TAO_CONVERTER_WRITES_PLAN)
    out = _run("convert-etlt.sh", ["--model", world["etlt"], *_repo_args(world)], world["env"])
    assert out.returncode == 0, out.stderr
    assert [m["tensorrt_version"] for m in _manifests(world)] == ["unknown", "unknown"]
    assert "warning: TensorRT version not found" in out.stderr
    assert "goldens will only be keyed by the plan's sha256" in out.stderr


def test_a_rebuild_replaces_plan_and_manifest(world):
    for plan, manifest in zip(_plans(world), _manifest_paths(world)):
        plan.write_text("old engine\n")
        manifest.write_text(json.dumps({"format": 1, "plan_sha256": _sha256(plan)}))
    _stand_in(world["bin"], "tao-converter", TAO_CONVERTER_WRITES_PLAN)
    out = _run("convert-etlt.sh", ["--model", world["etlt"], *_repo_args(world)], world["env"])
    assert out.returncode == 0, out.stderr
    for plan, manifest in zip(_plans(world), _manifests(world)):
        assert plan.read_text().startswith("engine for ")
        assert manifest["plan_sha256"] == _sha256(plan)


def test_no_stale_manifest_outlives_a_replaced_plan(world):
    """If the new engine.json cannot be written, no old one is left describing a new plan."""
    for plan, manifest in zip(_plans(world), _manifest_paths(world)):
        plan.write_text("old engine\n")
        manifest.write_text(json.dumps({"format": 1, "plan_sha256": _sha256(plan)}))
    # The model vanishes once converted, so engine_manifest.py cannot hash it.
    _stand_in(world["bin"], "tao-converter", f"{TAO_CONVERTER_WRITES_PLAN}; rm '{world['etlt']}'")
    out = _run("convert-etlt.sh", ["--model", world["etlt"], *_repo_args(world)], world["env"])
    assert out.returncode == 2 and f"cannot read {world['etlt']}" in out.stderr
    assert _plans(world)[0].read_text().startswith("engine for "), "the new plan is in place"
    assert not _manifest_paths(world)[0].exists()
    for plan, manifest in zip(_plans(world), _manifest_paths(world)):
        if manifest.exists():
            assert json.loads(manifest.read_text())["plan_sha256"] == _sha256(plan)
    assert not _leftovers(world)


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
    assert not any(p.exists() for p in _manifest_paths(world))
    assert not _leftovers(world)


def test_a_converter_that_writes_no_plan_is_caught(world):
    _stand_in(world["bin"], "tao-converter", "exit 0")
    out = _run("convert-etlt.sh", ["--model", world["etlt"], *_repo_args(world)], world["env"])
    assert out.returncode == 1 and "wrote no plan" in out.stderr
    assert not any(p.exists() for p in _plans(world))
    assert not any(p.exists() for p in _manifest_paths(world))


# ---------------------------------------------------------------- ONNX

def _make_onnx(python: str, path: Path, names: tuple[str, str, str], batch: int | str = "N") -> None:
    """A tiny graph with PeopleNet's tensor names and shapes (not PeopleNet's weights),
    built once a session for each names and batch."""
    path.write_bytes(_onnx_bytes(python, names, batch))


@functools.cache
def _onnx_bytes(python: str, names: tuple[str, str, str], batch: int | str) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.onnx"
        _build_onnx(python, path, names, batch)
        return path.read_bytes()


def _build_onnx(python: str, path: Path, names: tuple[str, str, str], batch: int | str) -> None:
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


@pytest.mark.slow  # another stand-in trtexec run
def test_onnx_int8_with_calibration_cache(world):
    python = tools_python("onnx")
    model = world["tmp"] / "peoplenet.onnx"
    _make_onnx(python, model, PLAIN)
    calib = world["tmp"] / "peoplenet_int8.txt"
    calib.write_text("TRT-8601-EntropyCalibration2\n")
    _stand_in(world["bin"], "trtexec", TRTEXEC_WRITES_PLAN)
    ngc = "nvidia/tao/peoplenet:deployable_quantized_onnx_v2.6.3"
    out = _run("convert-onnx.sh", ["--model", model, "--python", python, "--calib", calib,
                                   "--ngc-version", ngc, *_repo_args(world)], world["env"])
    assert out.returncode == 0, out.stderr
    argv = (world["bin"] / "trtexec.args").read_text().splitlines()
    assert argv[0] == f"--onnx={model}", "names already fit: the model is used as it is"
    assert argv[-3:] == ["--fp16", "--int8", f"--calib={calib}"]
    for manifest in _manifests(world):
        assert manifest["precision"] == "int8"
        assert manifest["source_model"]["ngc_version"] == ngc
        assert manifest["converter_command"].endswith(f" --fp16 --int8 --calib={calib}")


def test_onnx_engine_json_records_trtexecs_own_tensorrt_version(world):
    python = tools_python("onnx")
    model = world["tmp"] / "resnet34_peoplenet.onnx"
    _make_onnx(python, model, TF_NAMES)
    _stand_in(world["bin"], "trtexec", TRTEXEC_WRITES_PLAN)
    # An installed package that says otherwise: trtexec's own line wins, dpkg is not asked.
    _dpkg_query(world["bin"], {"tensorrt": ("install ok installed", "8.5.2.2-1+cuda11.4")})
    out = _run("convert-onnx.sh", ["--model", model, "--python", python, *_repo_args(world)],
               world["env"])
    assert out.returncode == 0, out.stderr
    assert "[I] TensorRT version: 8.6.2" in out.stdout and "Engine built in" in out.stdout, \
        "trtexec's output is still shown"
    for plan, manifest in zip(_plans(world), _manifests(world)):
        assert manifest["plan_sha256"] == _sha256(plan)
        assert manifest["tensorrt_version"] == "8.6.2"
        assert manifest["precision"] == "fp16"
        assert manifest["converter"] == "trtexec"
        assert manifest["converter_command"] == _shown_command(out)
        assert manifest["converter_command"].endswith(" --maxShapes=input_1:64x3x544x960 --fp16")
        assert manifest["source_model"] == {"file": "resnet34_peoplenet.onnx",
                                            "sha256": _sha256(model), "ngc_version": ""}
        assert manifest["device"] == STAND_IN_GPU
    assert not (world["bin"] / "dpkg-query.asked").exists()
    assert not _leftovers(world)


def test_a_failed_trtexec_run_places_nothing(world):
    python = tools_python("onnx")
    model = world["tmp"] / "peoplenet.onnx"
    _make_onnx(python, model, PLAIN)
    _stand_in(world["bin"], "trtexec", textwrap.dedent("""
        echo '[I] TensorRT version: 8.6.2'
        echo '[E] Error[4]: network has no outputs' >&2
        exit 3"""))
    out = _run("convert-onnx.sh", ["--model", model, "--python", python, *_repo_args(world)],
               world["env"])
    assert out.returncode == 3, "trtexec's own exit status"
    assert "[E] Error[4]: network has no outputs" in out.stderr, "trtexec's errors stay on stderr"
    assert not any(p.exists() for p in [*_plans(world), *_manifest_paths(world)])
    assert not _leftovers(world)


def test_onnx_check_only_writes_nothing(world):
    python = tools_python("onnx")
    model = world["tmp"] / "peoplenet.onnx"
    _make_onnx(python, model, PLAIN)
    _stand_in(world["bin"], "trtexec", TRTEXEC_WRITES_PLAN)
    out = _run("convert-onnx.sh", ["--check", "--int8", "--model", model, "--python", python,
                                   *_repo_args(world)], world["env"])
    assert out.returncode == 0, out.stderr
    assert "check only" in out.stdout and "NGC version (none given), int8" in out.stdout
    assert not (world["bin"] / "trtexec.args").exists()
    assert not any(p.exists() for p in [*_plans(world), *_manifest_paths(world)])
    assert not _leftovers(world)


@pytest.mark.parametrize("names, batch, message", [
    (TF_NAMES, 1, "fixed batch of 1"),
    (("images", "output_cov/Sigmoid", "output_bbox/BiasAdd"), "N", "expected one input 'input_1'"),
    (("input_1", "cov", "output_bbox/BiasAdd"), "N", "no output 'output_cov/Sigmoid'"),
])
@pytest.mark.slow  # an ONNX file built per case
def test_onnx_that_breaks_the_contract_is_refused(world, names, batch, message):
    python = tools_python("onnx")
    model = world["tmp"] / "other.onnx"
    _make_onnx(python, model, names, batch)
    _stand_in(world["bin"], "trtexec", "exit 0")
    out = _run("convert-onnx.sh", ["--model", model, "--python", python, *_repo_args(world)], world["env"])
    assert out.returncode == 2 and message in out.stderr
    assert not (world["bin"] / "trtexec.args").exists(), "trtexec never ran"
    assert not any(p.exists() for p in _plans(world))


# ---------------------------------------------------------------- engine_manifest.py

def _manifest_tool(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(TAO / "engine_manifest.py"), *args],
                          check=False, capture_output=True, text=True, timeout=60, cwd=tmp_path)


def _manifest_args(tmp_path: Path, **override: str) -> list[str]:
    (tmp_path / "model.plan").write_bytes(b"plan bytes")
    (tmp_path / "m.onnx").write_bytes(b"onnx bytes")
    options = {"output": str(tmp_path / "engine.json"), "plan": str(tmp_path / "model.plan"),
               "source-model": str(tmp_path / "m.onnx"), "tensorrt-version": "8.6.2",
               "precision": "fp16", "converter": "trtexec", "converter-command": "trtexec --fp16",
               "device": STAND_IN_GPU, **override}
    return [a for k, v in options.items() for a in (f"--{k}", v)]


def test_engine_manifest_writes_quietly_and_leaves_no_temporary_file(tmp_path):
    out = _manifest_tool(tmp_path, *_manifest_args(tmp_path))
    assert (out.returncode, out.stdout, out.stderr) == (0, "", "")
    manifest = json.loads((tmp_path / "engine.json").read_text())
    assert list(manifest) == MANIFEST_KEYS
    assert manifest["plan_sha256"] == hashlib.sha256(b"plan bytes").hexdigest()
    assert manifest["source_model"] == {"file": "m.onnx", "ngc_version": "",
                                        "sha256": hashlib.sha256(b"onnx bytes").hexdigest()}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["engine.json", "m.onnx", "model.plan"]


@pytest.mark.parametrize("override, message", [
    ({"plan": "absent.plan"}, "cannot read absent.plan"),
    ({"precision": "fp32"}, "invalid choice: 'fp32'"),
    ({"converter": "polygraphy"}, "invalid choice: 'polygraphy'"),
    ({"device": " "}, "must not be empty"),
    ({"output": "no/such/dir/engine.json"}, "cannot write no/such/dir/engine.json"),
])
def test_engine_manifest_problems_go_to_stderr_with_status_2(tmp_path, override, message):
    out = _manifest_tool(tmp_path, *_manifest_args(tmp_path, **override))
    assert out.returncode == 2 and out.stdout == ""
    assert message in out.stderr
    assert not (tmp_path / "engine.json").exists()
