"""Fixtures of the functional suite: who the server runs, and its goldens."""

from __future__ import annotations

from pathlib import Path

import pytest

from pnsuite.detection import goldens
from pnsuite.errors import SuiteError
from pnsuite.server import TritonServer
from pnsuite.settings import SuiteSettings


@pytest.fixture(scope="session")
def served_model(triton_server: TritonServer) -> goldens.ModelUnderTest:
    """Identity, answer digest, engine and Triton version of the model this server runs."""
    with triton_server.grpc_client() as client:
        try:
            return goldens.ModelUnderTest.from_server(client, triton_server.model_repository)
        except SuiteError as err:  # e.g. an engine.json of another plan
            pytest.fail(str(err), pytrace=False)


@pytest.fixture(scope="session")
def record_options(triton_server: TritonServer, suite_settings: SuiteSettings,
                   pytestconfig: pytest.Config) -> str:
    """The pytest options that point a run at this server, for how-to messages."""
    if suite_settings.launcher == "external":
        return f"--triton-launcher external --triton-url {suite_settings.triton_url}"
    repo = triton_server.model_repository
    root = Path(pytestconfig.rootpath)
    shown = repo.relative_to(root) if repo is not None and repo.is_relative_to(root) else repo
    return f"--triton-launcher {suite_settings.launcher} --triton-repos {shown}"


@pytest.fixture
def golden(served_model: goldens.ModelUnderTest, record_options: str,
           update_goldens: bool, goldens_dir: Path) -> goldens.GoldenFile:
    """This model's goldens, or a failure that says how to record them."""
    if update_goldens:
        pytest.skip("--update-goldens: this run records the goldens; tests that read them "
                    "run in a normal run")
    try:
        return goldens.load_golden(served_model, goldens.golden_path(served_model, goldens_dir),
                                   record_options)
    except goldens.GoldenError as err:
        pytest.fail(str(err), pytrace=False)
