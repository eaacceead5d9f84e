"""What the launcher, the install dir and the model repositories default to on this
machine. A Jetson (an L4T system: /etc/nv_tegra_release) serves PeopleNet's TensorRT plans
with the Triton release unpacked in $HOME/tritonserver, as the Triton Jetson example does, so
a first run on a board needs no setting; anywhere else the embedded Triton serves the CPU
stand-in, which needs neither Docker nor a GPU."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pnsuite.paths import EMBEDDED_REPOS, MODEL_REPOS
from pnsuite.platform.jetson import NV_TEGRA_RELEASE, platform_root

#: the example's install location, and the release launcher's default everywhere
RELEASE_INSTALL = "~/tritonserver"
#: the two repositories of the example, as each kind of machine serves them
REPO_NAMES = ("sample_1_instances", "sample_2_dynamic_batching")
TENSORRT_REPOS = MODEL_REPOS / "tensorrt"


def on_jetson(root: Path | None = None) -> bool:
    """Whether `root` (this machine's, `platform_root()`, unless given) is an L4T system
    (JetPack writes /etc/nv_tegra_release)."""
    return ((platform_root() if root is None else root) / NV_TEGRA_RELEASE).exists()


@dataclass(frozen=True)
class PlatformDefaults:
    jetson: bool

    @property
    def launcher(self) -> str:
        return "release" if self.jetson else "embedded"

    def repos(self, launcher: str) -> tuple[Path, ...]:
        """The example's repositories for `launcher`: the TensorRT ones where a Jetson's own
        Triton serves them, the stand-in's where the embedded server does (it cannot load a
        plan) or where there is no Jetson."""
        home = TENSORRT_REPOS if self.jetson and launcher != "embedded" else EMBEDDED_REPOS
        return tuple(home / name for name in REPO_NAMES)


def platform_defaults(root: Path | None = None) -> PlatformDefaults:
    return PlatformDefaults(jetson=on_jetson(root))
