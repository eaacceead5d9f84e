"""The embedded launcher: the real `tritonserver` shipped inside the nvidia-pytriton wheel.

No Docker and no GPU: the server and its python backend run as plain processes on the
CPU. PyTriton's Python API is not used, only the files its wheel carries.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from pathlib import Path

from pnsuite.paths import PROJECT_ROOT
from pnsuite.server.errors import LauncherConfigError
from pnsuite.server.launcher import Launcher, LaunchSpec, ProcessHandle, ServerHandle


def python_env(base: dict[str, str], lib_dirs: list[Path]) -> dict[str, str]:
    """Server environment for python-backend models of this project.

    The running interpreter's `bin/` goes first on PATH (the stub imports the model's
    packages from the `python3` it finds there), `lib_dirs` first on LD_LIBRARY_PATH.
    The stub ignores PYTHONPATH and puts its working dir on sys.path instead: launchers
    start the server in PROJECT_ROOT so that the stand-in's `pnsuite` is this checkout's.
    """
    env = dict(base)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["LD_LIBRARY_PATH"] = os.pathsep.join(
        [str(d) for d in lib_dirs]
        + ([env["LD_LIBRARY_PATH"]] if env.get("LD_LIBRARY_PATH") else [])
    )
    return env


class EmbeddedLauncher(Launcher):
    """Runs nvidia-pytriton's `tritonserver` with a private backend dir per server."""

    name = "embedded"

    def __init__(self) -> None:
        spec = importlib.util.find_spec("pytriton")
        if spec is None or not spec.submodule_search_locations:
            raise LauncherConfigError(
                "the embedded launcher needs the nvidia-pytriton wheel (it ships the "
                "tritonserver binary), which the project's `embedded` extra installs: "
                "pip install -e '.[embedded]' (./suite installs it unless SUITE_EXTRAS "
                "leaves it out)"
            )
        package = Path(list(spec.submodule_search_locations)[0])
        self.server_dir = package / "tritonserver"
        self.binary = self.server_dir / "bin" / "tritonserver"
        self.lib_dir = package.parent / "nvidia_pytriton.libs"
        version = f"{sys.version_info.major}.{sys.version_info.minor}"
        self.stub = (
            self.server_dir / "python_backend_stubs" / version / "triton_python_backend_stub"
        )
        for path, what in [
            (self.binary, "tritonserver binary"),
            (self.lib_dir, "library dir"),
            (self.stub, f"python backend stub for Python {version}"),
        ]:
            if not path.exists():
                raise LauncherConfigError(f"nvidia-pytriton install is missing its {what}: {path}")

    def launch(self, spec: LaunchSpec) -> ServerHandle:
        backends = spec.workdir / "backends"
        # The python backend looks for its stub beside libtriton_python.so: a private copy
        # per server carries the stub for the interpreter that runs this suite.
        shutil.copytree(self.server_dir / "backends", backends, dirs_exist_ok=True)
        shutil.copy2(self.stub, backends / "python" / "triton_python_backend_stub")
        command = [str(self.binary), *spec.server_args(), f"--backend-directory={backends}"]
        env = python_env({**os.environ, **spec.env}, [self.lib_dir])
        return ProcessHandle(command, env, spec, cleanup_paths=[backends], cwd=PROJECT_ROOT)

    def describe(self) -> dict[str, str]:
        return {"launcher": self.name, "server_binary": str(self.binary)}
