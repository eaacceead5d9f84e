"""The docker tests' launcher, or a skip that says why Docker cannot be had here.

Where docker tests are required (`--docker-required 1`, or TRITON_SUITE_DOCKER_REQUIRED=1
as .ci/run sets, which starts its own engine) the same reason fails the tests instead: on
CI they must run.
"""

from __future__ import annotations

import pytest

from pnsuite.errors import SuiteError
from pnsuite.server.docker import DockerLauncher
from pnsuite.settings import SuiteSettings


@pytest.fixture(scope="session")
def docker_launcher(suite_settings: SuiteSettings, triton_launcher) -> DockerLauncher:
    """The session's docker launcher (the configured one under --triton-launcher docker)."""
    if isinstance(triton_launcher, DockerLauncher):
        return triton_launcher
    try:
        return DockerLauncher(suite_settings.triton_image)
    except SuiteError as err:
        if suite_settings.docker_required:
            pytest.fail(f"docker tests are required here (--docker-required), but the docker "
                        f"launcher cannot run: {err}", pytrace=False)
        pytest.skip(f"the docker launcher cannot run here: {err}")
