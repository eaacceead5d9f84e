"""A TensorRT repository without its engine is refused before a server starts, with a
message that says how to build `model.plan`."""

import shutil

import pytest

from pnsuite.repository import model_files
from pnsuite.paths import PROJECT_ROOT

pytestmark = pytest.mark.functional

TENSORRT_REPOS = sorted((PROJECT_ROOT / "model_repos" / "tensorrt").iterdir())


@pytest.mark.parametrize("source", TENSORRT_REPOS, ids=[r.name for r in TENSORRT_REPOS])
def test_a_missing_model_plan_says_how_to_build_it(make_server, triton_launcher, source,
                                                   tmp_path, leak_check):
    if not triton_launcher.manages_server:
        pytest.skip(f"the {triton_launcher.name} launcher starts no server to check first")
    repo = tmp_path / source.name
    # Only the configs: this checkout may hold a real engine (on a Jetson).
    shutil.copytree(source, repo, ignore=lambda d, names: [n for n in names if n.endswith(".plan")])
    plan = repo / "peoplenet" / "1" / "model.plan"
    with pytest.raises(model_files.ModelFileMissing) as missing:
        make_server(repo)
    message = str(missing.value)
    assert str(plan) in message, message
    assert "tao/convert-etlt.sh" in message and "tao/README.md" in message, message


def test_an_embedded_repository_has_every_model_file():
    repo = PROJECT_ROOT / "model_repos" / "embedded" / "sample_1_instances"
    assert model_files.missing_model_files(repo) == []
