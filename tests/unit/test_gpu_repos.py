"""The GPU stand-in repositories (model_repos/gpu/) and the GPU validation's pure logic.

Nothing here needs a GPU or torch: the configs are parsed with Triton's own protobuf
schema and checked against PeopleNet's contract and the embedded repositories; the
driver's and report's arithmetic runs on statistics shaped like Triton's.
"""

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pnsuite.cli.gpu import report, validate
from pnsuite.measure.run import MeasuredRun, Window
from pnsuite.measure.profiles import choose_profile
from pnsuite.models import gpu_parameters, identities, malloc_tuning
from pnsuite.repository import model_config, model_files

ROOT = Path(__file__).resolve().parents[2]
GPU = ROOT / "model_repos" / "gpu"
REPOS = {"baseline_1_instance": (1, False), "sample_1_instances": (3, False),
         "sample_2_dynamic_batching": (1, True)}
IDENTITY = "peoplenet-gpu-standin-resnet34-random"
KIND_GPU = model_config.model_config_pb2.ModelInstanceGroup.KIND_GPU


def _tensors(config) -> dict:
    return {t.name: (t.data_type, list(t.dims)) for t in [*config.input, *config.output]}


def test_the_three_gpu_repositories_are_there():
    assert sorted(p.name for p in GPU.iterdir() if p.is_dir()) == sorted(REPOS)


@pytest.mark.parametrize("name", sorted(REPOS))
def test_config_has_peoplenets_contract_on_the_gpu(name):
    config = model_config.read_config(GPU / name)
    reference = model_config.read_config(ROOT / "model_repos" / "embedded" / "sample_1_instances")
    assert config.name == "peoplenet" and config.backend == "python"
    assert config.max_batch_size == 64
    assert _tensors(config) == _tensors(reference)  # input_1, output_cov/Sigmoid, output_bbox/BiasAdd
    assert [g.kind for g in config.instance_group] == [KIND_GPU]
    instances, batching = REPOS[name]
    assert model_config.instance_count(config) == instances
    assert model_config.batches_dynamically(config) is batching
    params = {k: v.string_value for k, v in config.parameters.items()}
    assert params["model_identity"] == IDENTITY
    assert params["warmup"] == "all" and params["FORCE_CPU_ONLY_INPUT_TENSORS"] == "no"
    assert 0 < float(params["gpu_memory_fraction"]) <= 1


@pytest.mark.parametrize("name", sorted(REPOS))
def test_config_says_plainly_that_it_is_not_peoplenet(name):
    text = (GPU / name / "peoplenet" / "config.pbtxt").read_text()
    assert "NOT PeopleNet" in text and "RANDOM" in text


@pytest.mark.parametrize("name", sorted(REPOS))
def test_model_py_serves_the_gpu_standin(name):
    source = (GPU / name / "peoplenet" / "1" / "model.py").read_text()
    imports = [n for n in ast.walk(ast.parse(source)) if isinstance(n, ast.ImportFrom)]
    assert [(n.module, [a.name for a in n.names]) for n in imports] == \
        [("pnsuite.models.gpu_standin", ["TritonPythonModel"])]
    assert model_files.missing_model_files(GPU / name) == []


def test_the_configs_declare_the_identity_the_standins_code_declares():
    # The GPU stand-in's module needs torch, which CI does not install; it takes its
    # identity from the torch-free constant that is checked here against the configs.
    for name in REPOS:
        assert model_config.model_identity(model_config.read_config(GPU / name)) == \
            identities.GPU_STANDIN == IDENTITY
    cpu = model_config.read_config(ROOT / "model_repos" / "embedded" / "sample_1_instances")
    assert model_config.model_identity(cpu) == identities.CPU_STANDIN != identities.GPU_STANDIN


def test_suite_fixtures_pick_the_right_gpu_repos_and_the_gpu_profile():
    configs = {name: model_config.read_config(GPU / name) for name in REPOS}
    several = [n for n, c in configs.items()
               if model_config.instance_count(c) > 1 and not model_config.batches_dynamically(c)]
    batching = [n for n, c in configs.items() if model_config.batches_dynamically(c)]
    assert several == ["sample_1_instances"] and batching == ["sample_2_dynamic_batching"]
    # Not the CPU stand-in: `auto` chooses the gpu profile, and goldens never match it.
    assert not any(model_config.is_standin(c) for c in configs.values())
    assert choose_profile("auto", standin=False).name == "gpu"


def test_the_cross_checks_suite_figures_are_the_engines_run_over_its_counted_windows():
    windows = [Window(100, 1.0, 9.0, 0.0, client_cpu_s=0.5),   # settling: not counted
               Window(200, 1.0, 8.0, 0.0, client_cpu_s=0.2),
               Window(300, 1.5, 7.0, 0.0, client_cpu_s=0.1)]
    run = MeasuredRun(concurrency=4, windows=windows, counted=2, stable=True,
                      inference_ms=5.0, latency_p99_ms=7.5, compute_infer_ms=3.0,
                      latency_p50_ms=4.0, latency_p90_ms=6.0,
                      server_stats={"inference_count": 500},
                      batch_stats={"4": {"executions": 125, "compute_infer_ms": 12.0}})
    figures = validate.suite_figures(run)
    assert figures["requests"] == 500 and figures["seconds"] == 2.5
    assert figures["throughput"] == 200.0  # 1000 / inference_ms
    assert figures["client_cpu_ms_per_request"] == 0.6  # 0.3 s over 500 requests
    assert figures["client_cpu_cores"] == 0.12
    assert (figures["p50_ms"], figures["p90_ms"], figures["p99_ms"]) == (4.0, 6.0, 7.5)
    assert figures["server"] == {"inference_count": 500}
    assert figures["batch_stats"]["4"]["executions"] == 125


def _row(suite: float, pa: float) -> dict:
    return {"suite": {"throughput": suite}, "perf_analyzer": {"throughput": pa},
            "ratio_suite_over_perf_analyzer": suite / pa}


def test_targets_follow_the_documented_thresholds():
    cross = {"repos": [
        {"repo": "baseline_1_instance", "instances": 1, "dynamic_batching": False,
         "concurrency": {"1": _row(95, 100), "16": _row(100, 100)}},
        {"repo": "sample_2_dynamic_batching", "instances": 1, "dynamic_batching": True,
         "concurrency": {"1": _row(94, 100), "16": _row(399, 378)}}]}
    verdicts = {t["target"]: t["met"] for t in report.targets({"compute_bound_images_per_s": 1000}, cross)}
    batching = {k: v for k, v in verdicts.items() if k.startswith("dynamic batching")}
    assert list(batching.values()) == [False, False]          # 3.99x and 3.78x: under 4x
    bound = {k: v for k, v in verdicts.items() if k.startswith("best configuration")}
    assert list(bound.values()) == [False, False]             # 39.9% and 37.8%: under 40%
    ratios = {k.rsplit(", ", 1)[1]: v for k, v in verdicts.items() if k.startswith("suite /")}
    assert ratios == {"baseline_1_instance c1": True, "baseline_1_instance c16": True,
                      "sample_2_dynamic_batching c1": False,   # 0.94 < 0.95
                      "sample_2_dynamic_batching c16": False}  # 1.056: outside 5%


def test_gpu_scripts_are_shellcheck_clean():
    sc = shutil.which("shellcheck")
    if sc is None:
        pytest.skip("shellcheck is not installed (apt-get install shellcheck)")
    scripts = sorted(str(p) for p in (ROOT / "gpu").glob("*.sh"))
    done = subprocess.run([sc, *scripts], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout


def test_the_standins_fixed_choice_parameters_default_and_refuse_what_they_do_not_know():
    assert gpu_parameters.choice({}, "output_memory") == "device"
    assert gpu_parameters.choice({"output_memory": "host"}, "output_memory") == "host"
    with pytest.raises(ValueError, match=r"'output_memory' is 'gpu': it must be one of device, host"):
        gpu_parameters.choice({"output_memory": "gpu"}, "output_memory")


@pytest.mark.parametrize("name", sorted(REPOS))
def test_the_gpu_repositories_give_only_values_the_standin_takes(name):
    config = model_config.read_config(GPU / name)
    params = {k: v.string_value for k, v in config.parameters.items()}
    for key in gpu_parameters.CHOICES:
        gpu_parameters.choice(params, key)  # raises on a value the stand-in would refuse


def test_the_diagnosis_starts_processes_with_the_malloc_settings_the_standin_applies():
    # The values measured on the H100 (docs/gpu-validation.md), as glibc reads them.
    assert malloc_tuning.keep_freed_environment() == {
        "MALLOC_MMAP_THRESHOLD_": str(32 * 2**20), "MALLOC_TRIM_THRESHOLD_": str(2**31 - 1),
        "MALLOC_TOP_PAD_": str(256 * 2**20)}


def test_glibc_takes_the_standins_malloc_settings():
    # In a process of its own: the settings stay with the process they are applied to.
    done = subprocess.run([sys.executable, "-c", "from pnsuite.models.malloc_tuning import "
                           "keep_freed_memory; print(keep_freed_memory())"],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "True", done.stderr
