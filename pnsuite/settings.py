"""The suite's settings: one type, read once and validated once.

Precedence: command-line option, then environment variable (for CI), then the ini key
in pyproject.toml, then the default here. The pytest layer reads them in
`pytest_configure`; a bad value is one usage error before any test runs.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from pnsuite.client.memory import NAMES as MEMORY_NAMES
from pnsuite.client.memory import Memory
from pnsuite.errors import ConfigError
from pnsuite.measure.profiles import PROFILES
from pnsuite.platform.defaults import RELEASE_INSTALL, PlatformDefaults, platform_defaults
from pnsuite.server.factory import LAUNCHERS
from pnsuite.server.launcher import check_server_args

#: the test tiers, each a superset of the one before (fixtures/tiers.py, docs/testing.md)
TIERS = ("fast", "ci", "all")


@dataclass(frozen=True)
class Setting:
    option: str  # --triton-launcher
    ini: str  # triton_launcher
    env: str  # TRITON_SUITE_LAUNCHER
    default: str
    help: str

    @property
    def dest(self) -> str:
        return self.option.lstrip("-").replace("-", "_")


SETTINGS: dict[str, Setting] = {
    s.ini: s
    for s in [
        Setting(
            "--triton-launcher",
            "triton_launcher",
            "TRITON_SUITE_LAUNCHER",
            "auto",
            f"how servers are started: {', '.join(LAUNCHERS)}, or auto (release on a Jetson, "
            "embedded elsewhere)",
        ),
        Setting(
            "--triton-repos",
            "triton_repos",
            "TRITON_SUITE_REPOS",
            "auto",
            "model repositories to test, space separated (relative to the rootdir); auto: "
            "model_repos/tensorrt/sample_{1_instances,2_dynamic_batching} on a Jetson, "
            "model_repos/embedded/... elsewhere or with the embedded launcher",
        ),
        Setting(
            "--triton-install",
            "triton_install",
            "TRITON_SUITE_INSTALL",
            RELEASE_INSTALL,
            "Triton install dir for --triton-launcher=release (the release tarball unpacked, "
            "as the Triton Jetson example has it)",
        ),
        Setting(
            "--triton-url",
            "triton_url",
            "TRITON_SUITE_URL",
            "",
            "gRPC host:port of a running server (--triton-launcher=external)",
        ),
        Setting(
            "--triton-ready-timeout",
            "triton_ready_timeout",
            "TRITON_SUITE_READY_TIMEOUT",
            "120",
            "seconds a server may take to become ready",
        ),
        Setting(
            "--triton-wait-for-server",
            "triton_wait_for_server",
            "TRITON_SUITE_WAIT_FOR_SERVER",
            "0",
            "1: wait up to the ready timeout for an external server that refuses "
            "connections (one still starting); 0: a refused connection fails in seconds",
        ),
        Setting(
            "--triton-server-args",
            "triton_server_args",
            "TRITON_SUITE_SERVER_ARGS",
            "",
            "tritonserver options every server the suite starts gets, space separated, each "
            "--name=value, as the deployment sets them (e.g. "
            "--cuda-memory-pool-byte-size=0:1073741824)",
        ),
        Setting(
            "--triton-image",
            "triton_image",
            "TRITON_SUITE_IMAGE",
            "",
            "Triton image for --triton-launcher=docker (default: NGC's -py3-igpu on Jetson, "
            "-py3 with an NVIDIA GPU, else the local pnsuite/tritonserver:2.51.0-cpu)",
        ),
        Setting(
            "--triton-memory",
            "triton_memory",
            "TRITON_SUITE_MEMORY",
            "system",
            f"where perf loads put request tensors: {', '.join(MEMORY_NAMES)} (system: shared "
            "memory; gpu: CUDA shared memory, needs the gpu extra and an NVIDIA GPU)",
        ),
        Setting(
            "--load-processes",
            "load_processes",
            "TRITON_SUITE_LOAD_PROCESSES",
            "1",
            "processes the perf loads' client threads are spread over (raise it when one "
            "Python process cannot re-send fast enough, e.g. a GPU server past ~1000 infer/s)",
        ),
        Setting(
            "--perf-profile",
            "perf_profile",
            "TRITON_SUITE_PERF_PROFILE",
            "auto",
            f"expected concurrency effects: auto, {', '.join(PROFILES)}",
        ),
        Setting(
            "--docker-required",
            "docker_required",
            "TRITON_SUITE_DOCKER_REQUIRED",
            "0",
            "1: a docker test that cannot run here fails instead of skipping (CI sets it)",
        ),
        Setting(
            "--ab-reference",
            "ab_reference",
            "TRITON_SUITE_AB_REFERENCE",
            "",
            "model repository every configured one is A/B-gated against "
            "(tests/perf/test_ab.py; relative to the rootdir)",
        ),
        Setting(
            "--goldens-dir",
            "goldens_dir",
            "TRITON_SUITE_GOLDENS_DIR",
            "fixtures/golden/detections",
            "where golden detections are read and --update-goldens writes (relative to the "
            "rootdir)",
        ),
        Setting(
            "--results-store",
            "results_store",
            "TRITON_SUITE_RESULTS_STORE",
            "",
            "results store every benchmark run is also written to: a SQLite file path or a "
            "postgresql:// URL (docs/results-store.md)",
        ),
        Setting(
            "--tier",
            "tier",
            "TRITON_SUITE_TIER",
            "fast",
            "which tests run: fast (every part of the suite once, minutes), ci (what CI runs: "
            "adds the tests marked slow), all (adds those marked extended; also --all)",
        ),
    ]
}


@dataclass(frozen=True)
class SuiteSettings:
    launcher: str
    repos: tuple[Path, ...]
    triton_install: Path | None
    triton_url: str | None
    ready_timeout_s: float
    perf_profile: str = "auto"
    #: wait for an external server that refuses connections, up to the ready timeout
    wait_for_server: bool = False
    triton_image: str | None = None
    memory: Memory = Memory.SYSTEM
    load_processes: int = 1
    docker_required: bool = False
    ab_reference: Path | None = None
    goldens_dir: Path = Path("fixtures/golden/detections")
    results_store: str | None = None
    #: tritonserver options every server the suite starts gets
    server_args: tuple[str, ...] = ()
    #: the test tier a pytest session runs (TIERS)
    tier: str = "fast"

    @classmethod
    def resolve(
        cls,
        option: Callable[[str], object],
        ini: Callable[[str], object],
        root: Path,
        env: Mapping[str, str] | None = None,
        platform: PlatformDefaults | None = None,
    ) -> SuiteSettings:
        """Settings from `option(dest)` and `ini(key)` lookups, the environment and the
        defaults (`platform`'s where a setting is auto: this machine's unless given);
        ConfigError naming the setting for a bad value."""
        env = os.environ if env is None else env
        platform = platform or platform_defaults()

        def value(key: str) -> str:
            s = SETTINGS[key]
            for found in (option(s.dest), env.get(s.env), ini(s.ini)):
                if found not in (None, ""):
                    return str(found)
            return s.default

        launcher = value("triton_launcher")
        if launcher == "auto":
            launcher = platform.launcher
        if launcher not in LAUNCHERS:
            raise ConfigError(
                f"--triton-launcher must be one of {', '.join(LAUNCHERS)} or auto, got {launcher!r}"
            )
        repos = (
            tuple((root / p).resolve() for p in value("triton_repos").split())
            if value("triton_repos") != "auto"
            else platform.repos(launcher)
        )
        missing = [str(r) for r in repos if not r.is_dir()]
        if missing and launcher != "external":
            raise ConfigError(
                f"model repository not found: {', '.join(missing)}",
                "--triton-repos takes directories relative to the rootdir "
                f"({root}), space separated",
            )
        profile = value("perf_profile")
        if profile != "auto" and profile not in PROFILES:
            raise ConfigError(
                f"--perf-profile must be auto or one of {', '.join(PROFILES)}, got {profile!r}"
            )
        tier = value("tier")
        if tier not in TIERS:
            raise ConfigError(f"--tier must be one of {', '.join(TIERS)}, got {tier!r}")
        install = value("triton_install")
        server_args = _server_args(value("triton_server_args"), launcher)
        reference = value("ab_reference")
        ab_reference = (root / reference).resolve() if reference else None
        if ab_reference is not None and not (ab_reference / "peoplenet" / "config.pbtxt").is_file():
            raise ConfigError(
                f"--ab-reference {reference}: no peoplenet/config.pbtxt in {ab_reference}",
                "give a model repository directory",
            )
        return cls(
            launcher=launcher,
            repos=repos,
            triton_install=Path(install).expanduser()
            if install and launcher == "release"
            else None,
            triton_url=value("triton_url") or None,
            ready_timeout_s=_positive(
                value("triton_ready_timeout"),
                "--triton-ready-timeout",
                float,
                "a number of seconds above 0",
            ),
            perf_profile=profile,
            triton_image=value("triton_image") or None,
            memory=Memory.parse(value("triton_memory")),
            load_processes=_positive(
                value("load_processes"), "--load-processes", int, "a whole number >= 1"
            ),
            docker_required=value("docker_required") in ("1", "true", "yes"),
            wait_for_server=value("triton_wait_for_server") in ("1", "true", "yes"),
            ab_reference=ab_reference,
            goldens_dir=(root / value("goldens_dir")).resolve(),
            results_store=_store_location(value("results_store"), root),
            server_args=server_args,
            tier=tier,
        )


def _server_args(text: str, launcher: str) -> tuple[str, ...]:
    """The checked tritonserver options of --triton-server-args (shell-style words)."""
    try:
        words = shlex.split(text)
    except ValueError as err:
        raise ConfigError(
            f"--triton-server-args {text!r}: {err}",
            "quote as in a shell, e.g. '--log-verbose=1 --exit-on-error=true'",
        ) from None
    if words and launcher == "external":
        raise ConfigError(
            "--triton-server-args with --triton-launcher=external: the suite "
            "does not start that server, so it cannot give it options",
            "start the server with them yourself, or use another launcher",
        )
    return check_server_args(words, "--triton-server-args")


def _store_location(text: str, root: Path) -> str | None:
    """A store URL as given, a SQLite path relative to the rootdir, or None."""
    if not text:
        return None
    return text if "://" in text else str((root / Path(text).expanduser()).resolve())


def _positive(text: str, option: str, kind: type, what: str):
    """`text` as a `kind` above zero, or ConfigError naming the option."""
    try:
        number = kind(text)
    except ValueError:
        number = None
    if number is None or number <= 0:
        raise ConfigError(f"{option} must be {what}, got {text!r}")
    return number
