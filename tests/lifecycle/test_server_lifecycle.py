"""The server lifecycle on a real embedded tritonserver: start, fail, retry, stop, clean."""

import os
import shutil
import time

import pytest

from pnsuite import ownership
from pnsuite.server import ServerStartError, TritonServer
from pnsuite.paths import PROJECT_ROOT
from pnsuite.server.embedded import EmbeddedLauncher
from pnsuite.server.external import ExternalLauncher
from pnsuite.server.release import LocalReleaseLauncher

REPOS = PROJECT_ROOT / "model_repos"
SAMPLE_2 = REPOS / "embedded" / "sample_2_dynamic_batching"


@pytest.mark.faults
def test_a_repo_that_fails_to_load_raises_with_reason_command_and_exit_code(tmp_path,
                                                                             leak_check):
    server = TritonServer(EmbeddedLauncher(), REPOS / "testing" / "fails_to_load",
                          workdir=tmp_path, ready_timeout_s=30)
    began = time.monotonic()
    with pytest.raises(ServerStartError) as info:
        with server:
            pass
    err = info.value
    assert "exited before it was ready" in err.reason  # noticed the exit, not the deadline
    assert err.exit_code not in (None, 0)
    assert "deliberate load failure" in str(err)
    assert "tritonserver" in " ".join(err.command) and "--model-repository" in str(err)
    assert time.monotonic() - began < 30
    assert not server.running


def test_stop_leaves_no_server_stub_or_shm_region(tmp_path, leak_check):
    before = ownership.take()
    with TritonServer(EmbeddedLauncher(), SAMPLE_2, workdir=tmp_path) as server:
        during = ownership.take() - before
        assert any("triton_python_backend_stub" in p for p in during.processes), during
        assert any(server.shm_prefix in r for r in during.shm_regions), during
    after = ownership.take() - before
    assert not after, after.describe()


@pytest.mark.faults
def test_a_taken_port_is_noticed_and_the_server_retries_on_fresh_ports(
        tmp_path, leak_check, check_port_clash_retry):
    check_port_clash_retry(EmbeddedLauncher(), SAMPLE_2, tmp_path)


def test_the_ready_deadline_names_what_was_not_ready(tmp_path, leak_check):
    server = TritonServer(EmbeddedLauncher(), SAMPLE_2, models=("peoplenet", "no_such_model"),
                          workdir=tmp_path, ready_timeout_s=5)
    with pytest.raises(ServerStartError, match="model 'no_such_model' not ready within 5 s"):
        with server:
            pass


def test_a_local_release_install_dir_runs_its_own_binary(tmp_path, leak_check):
    # A Triton install dir laid out like JetPack's release tarball, built from the
    # embedded wheel's real files: bin/tritonserver, lib/, backends/.
    embedded = EmbeddedLauncher()
    install = tmp_path / "tritonserver"
    (install / "bin").mkdir(parents=True)
    os.symlink(embedded.binary, install / "bin" / "tritonserver")
    os.symlink(embedded.lib_dir, install / "lib")
    shutil.copytree(embedded.server_dir / "backends", install / "backends")
    shutil.copy2(embedded.stub, install / "backends" / "python" / "triton_python_backend_stub")
    launcher = LocalReleaseLauncher(install)
    with TritonServer(launcher, SAMPLE_2, workdir=tmp_path / "work") as server:
        assert str(install / "bin" / "tritonserver") == server.handle.command[0]
        assert server.grpc_client().is_model_ready("peoplenet")


def test_a_local_release_dir_that_is_not_one_says_what_is_missing(tmp_path):
    from pnsuite.server import LauncherConfigError

    with pytest.raises(LauncherConfigError, match="bin/tritonserver"):
        LocalReleaseLauncher(tmp_path)


def test_an_external_server_is_used_but_never_stopped(make_server, tmp_path):
    owned = make_server(SAMPLE_2)
    external = TritonServer(ExternalLauncher(owned.grpc_url), None, workdir=tmp_path)
    with external:
        assert external.grpc_client().is_model_ready("peoplenet")
    assert owned.running
    assert owned.grpc_client().is_server_ready()
