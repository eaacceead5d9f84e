"""The local-release launcher: a Triton install dir such as the Triton Jetson example's
`$HOME/tritonserver`.

The dir holds `bin/tritonserver`, `lib/` (put on LD_LIBRARY_PATH, as JetPack's release
tarball needs) and `backends/`.
"""

from __future__ import annotations

import os
from pathlib import Path

from pnsuite.paths import PROJECT_ROOT
from pnsuite.server.embedded import python_env
from pnsuite.server.errors import LauncherConfigError
from pnsuite.server.launcher import Launcher, LaunchSpec, ProcessHandle, ServerHandle


class LocalReleaseLauncher(Launcher):
    """Runs `<install dir>/bin/tritonserver` with that dir's libraries and backends."""

    name = "release"

    def __init__(self, install_dir: str | os.PathLike[str]) -> None:
        self.install_dir = Path(install_dir).expanduser().resolve()
        self.binary = self.install_dir / "bin" / "tritonserver"
        self.lib_dir = self.install_dir / "lib"
        self.backend_dir = self.install_dir / "backends"
        missing = [str(p) for p in (self.binary, self.lib_dir, self.backend_dir) if not p.exists()]
        if missing:
            raise LauncherConfigError(
                f"{self.install_dir} is not a Triton install dir (expected bin/tritonserver, "
                f"lib/ and backends/; missing: {', '.join(missing)}). Unpack the release "
                "tarball there, e.g. tar -xf tritonserver<version>-igpu.tar -C $HOME/tritonserver"
            )

    def launch(self, spec: LaunchSpec) -> ServerHandle:
        command = [str(self.binary), *spec.server_args(), f"--backend-directory={self.backend_dir}"]
        env = python_env({**os.environ, **spec.env}, [self.lib_dir])
        return ProcessHandle(command, env, spec, cwd=PROJECT_ROOT)

    def describe(self) -> dict[str, str]:
        return {"launcher": self.name, "install_dir": str(self.install_dir)}
