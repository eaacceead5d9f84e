"""Fixtures shared by the perf and fault suites: the image every request carries and the
configured repositories to compare."""

from pathlib import Path
from typing import Callable

import numpy as np
import pytest

from fixtures import detectnet, model_config
from fixtures.server.embedded import PROJECT_ROOT
from fixtures.settings import SuiteSettings

CAPTURE = PROJECT_ROOT / "fixtures" / "golden" / "images" / "capture.jpg"


@pytest.fixture(scope="session")
def capture_tensor() -> np.ndarray:
    """capture.jpg pre-processed once: [1, 3, 544, 960] float32."""
    chw, _ = detectnet.preprocess(detectnet.load_image(CAPTURE))
    return chw[None]


def _configured_repo(settings: SuiteSettings, wanted: str,
                     check: Callable[[model_config.ModelConfig], bool]) -> Path:
    if settings.launcher == "external":
        pytest.skip("needs servers of its own with derived configs; an external server "
                    "(--triton-launcher=external) serves one fixed repository")
    for repo in settings.repos:
        if (repo / "peoplenet" / "config.pbtxt").is_file() and \
                check(model_config.read_config(repo)):
            return repo
    pytest.skip(f"no configured repository ({', '.join(r.name for r in settings.repos)}) "
                f"is {wanted}")


@pytest.fixture(scope="session")
def instances_repo(suite_settings: SuiteSettings) -> Path:
    """The configured repo with several instances and no dynamic batching (sample 1)."""
    return _configured_repo(
        suite_settings, "a several-instance repo without dynamic batching",
        lambda c: model_config.instance_count(c) > 1 and not model_config.batches_dynamically(c))


@pytest.fixture(scope="session")
def batching_repo(suite_settings: SuiteSettings) -> Path:
    """The configured repo with dynamic batching (sample 2)."""
    return _configured_repo(suite_settings, "a dynamic-batching repo",
                            model_config.batches_dynamically)
