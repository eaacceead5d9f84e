"""The docker tests' launcher, or a skip that says why Docker cannot be had here.

Where `TRITON_SUITE_DOCKER_REQUIRED=1` (set by .ci/run, which starts its own engine) the
same reason fails the tests instead: on CI they must run.
"""

from __future__ import annotations

import os

import pytest

from fixtures.server import LauncherConfigError
from fixtures.server.docker import DockerLauncher
from fixtures.settings import SuiteSettings

REQUIRED_ENV = "TRITON_SUITE_DOCKER_REQUIRED"


@pytest.fixture(scope="session")
def docker_launcher(suite_settings: SuiteSettings, request: pytest.FixtureRequest) -> DockerLauncher:
    """The session's docker launcher (the configured one under --triton-launcher docker)."""
    try:
        if suite_settings.launcher == "docker":
            return request.getfixturevalue("triton_launcher")
        return DockerLauncher(suite_settings.triton_image)
    except LauncherConfigError as err:
        if os.environ.get(REQUIRED_ENV) == "1":
            pytest.fail(f"{REQUIRED_ENV}=1, but the docker launcher cannot run here: {err}",
                        pytrace=False)
        pytest.skip(f"the docker launcher cannot run here: {err}")
