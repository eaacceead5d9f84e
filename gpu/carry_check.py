"""Does the GPU bundle (gpu/make_carry.sh) carry what a GPU validation run imports?

The GPU machine has Python 3.12 and no package registry: a third-party module must be in
the bundle's site dir or already on the machine. This walks the import tree of what
gpu/run_gpu_validation.sh runs with the suite's code (ENTRY_POINTS: the gate CLI and the
pytest session of its benchmark runs), following the repository's own modules and every
import statement in them (also those inside functions, so it errs on the side of asking),
and names each top-level third-party module that is in neither BUNDLED nor ON_DEVICE.

    python gpu/carry_check.py            the import tree against the two lists (no bundle
                                         needed; tests/unit/test_gpu_carry.py runs this)
    python gpu/carry_check.py SITE       also: every BUNDLED module is in the unpacked site
                                         dir SITE, and every distribution in SITE has what
                                         its Requires-Dist asks for (CPython 3.12 on Linux
                                         x86_64, no extras) in SITE or ON_DEVICE, at the
                                         versions asked for where it is in SITE

Exit 0 when nothing is missing, 1 with one line per missing module or requirement.
Standard library only, plus `packaging` for Requires-Dist (this project's venv has it).
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: the repository's own top-level packages and modules: followed, never "third-party"
LOCAL = ("pnsuite", "fixtures", "tests", "conftest", "benchmarks", "gpu")
#: what a GPU run imports from the repository: the gate CLI (record, check, ab), and the
#: pytest session each of its benchmark runs is (tests/perf/test_benchmarks.py and the
#: conftest files and fixtures plugins that session loads)
ENTRY_POINTS = ("pnsuite.cli.gate", "conftest", "tests.conftest", "tests.perf.conftest",
                "tests.perf.test_benchmarks")

#: top-level modules the bundle carries (gpu/make_carry.sh's wheels, and its copy of
#: nvidia-pytriton's server files), for CPython 3.12 on manylinux x86_64
BUNDLED = {
    "pytriton": "nvidia-pytriton 0.7.0: tritonserver 2.51.0, the python backend, 3.12 stub",
    "tritonclient": "tritonclient 2.51.0, with perf_analyzer",
    "google": "protobuf 4.25.9 (google.protobuf)",
    "docker": "docker 7.2.0",
    "rapidjson": "python-rapidjson 1.25",
    "cuda": "cuda-python 12.9.10 (cuda.cudart; the machine's cuda-bindings 13 lacks it)",
    "sqlalchemy": "SQLAlchemy 2.1.9: the results store",
    "alembic": "Alembic 1.20.1: the results store's schema revisions",
    "mako": "Mako 1.4.3: Alembic's templates",
    # the machine has these two as well (4.16.0 and 3.0.3): carried all the same, so that
    # the store does not hang on another version of its image
    "markupsafe": "MarkupSafe 3.0.4: Mako's",
    "typing_extensions": "typing_extensions 4.16.0: SQLAlchemy's and Alembic's",
}
#: top-level modules the GPU machine already has (its Python 3.12 venv with torch,
#: /opt/torch/.venv; versions as found on the H200, 2026-12-04), and the distribution that
#: provides each, for Requires-Dist ("": none that a bundled wheel could ask for)
ON_DEVICE = {
    "torch": "torch",                         # 2.11.0+cu130
    "torchvision": "torchvision",             # 0.26.0
    "numpy": "numpy",                         # 2.5.2 (the bundle's tritonclient asks <2: works)
    "scipy": "scipy",                         # 1.18.1
    "cv2": "",                                # OpenCV 5.0.0
    "grpc": "grpcio",                         # 1.84.0
    "pytest": "pytest",                       # 9.1.1
    "_pytest": "pytest",
    "pytest_benchmark": "pytest-benchmark",   # 5.2.3
    "requests": "requests",                   # 2.34.2: docker's
    "urllib3": "urllib3",                     # 2.7.0: docker's and tritonclient's
    "tqdm": "tqdm",                           # 4.70.1: the sweep's progress bar
    "triton_python_backend_utils": "",        # the python backend's stub provides it
}
#: what the device's Python 3.12 no longer has, though an older Python running this does
_GONE_IN_312 = {"asynchat", "asyncore", "distutils", "imp", "smtpd"}
#: the markers of the GPU machine's interpreter, for Requires-Dist
DEVICE_MARKERS = {
    "python_version": "3.12", "python_full_version": "3.12.3", "implementation_name":
    "cpython", "platform_python_implementation": "CPython", "sys_platform": "linux",
    "platform_system": "Linux", "platform_machine": "x86_64", "os_name": "posix",
    "extra": "",
}


def _stdlib() -> frozenset[str]:
    return frozenset(sys.stdlib_module_names) - _GONE_IN_312


def _source(module: str) -> tuple[Path, bool] | None:
    """The file of a repository module, and whether it is a package."""
    base = ROOT / module.replace(".", "/")
    if (base / "__init__.py").is_file():
        return base / "__init__.py", True
    if base.with_suffix(".py").is_file():
        return base.with_suffix(".py"), False
    return None


def _imported(module: str, tree: ast.AST, is_package: bool) -> set[str]:
    """Every module name an import statement (or a pytest_plugins list) in `tree` names."""
    parts = module.split(".")
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = parts if is_package else parts[:-1]
                base = base[:len(base) - node.level + 1]
                source = ".".join([*base, *([node.module] if node.module else [])])
            else:
                source = node.module or ""
            names.add(source)
            # `from package import module` imports a module too
            names.update(f"{source}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "pytest_plugins" for t in node.targets):
            if isinstance(node.value, (ast.List, ast.Tuple)):
                names.update(e.value for e in node.value.elts
                             if isinstance(e, ast.Constant) and isinstance(e.value, str))
    return names


def third_party_imports(entry_points=ENTRY_POINTS) -> dict[str, set[str]]:
    """Each top-level third-party module in the import tree, with the repository modules
    that import it."""
    stdlib, found, seen = _stdlib(), {}, set()
    todo = list(entry_points)
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        source = _source(module)
        if source is None:
            continue  # a name inside a module (`from pnsuite.x import name`)
        parts = module.split(".")
        todo.extend(".".join(parts[:i]) for i in range(1, len(parts)))  # parent packages
        path, is_package = source
        for name in _imported(module, ast.parse(path.read_text(), str(path)), is_package):
            top = name.split(".")[0]
            if top in LOCAL:
                todo.append(name)
            elif top and top not in stdlib and name != "pytester":  # pytester: pytest's own plugin
                found.setdefault(top, set()).add(module)
    return found


def missing_imports(entry_points=ENTRY_POINTS) -> list[str]:
    return [f"{top}: imported by {', '.join(sorted(users))}: neither in the bundle "
            "(gpu/make_carry.sh, BUNDLED) nor on the GPU machine (ON_DEVICE)"
            for top, users in sorted(third_party_imports(entry_points).items())
            if top not in BUNDLED and top not in ON_DEVICE]


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _in_site(site: Path, top: str) -> bool:
    """Whether `site` holds the top-level module `top` (a package, a .py or an extension)."""
    return ((site / top).is_dir() or (site / f"{top}.py").is_file()
            or any(site.glob(f"{top}.*.so")))


def missing_in_site(site: Path) -> list[str]:
    """BUNDLED modules absent from `site`, and requirements of its distributions met
    neither there nor on the device."""
    from importlib import metadata

    from packaging.requirements import Requirement

    problems = [f"{top}: listed in BUNDLED ({what}) but not in {site}"
                for top, what in sorted(BUNDLED.items()) if not _in_site(site, top)]
    dists = {_canonical(d.metadata["Name"]): d for d in metadata.distributions(path=[str(site)])}
    device = {_canonical(name) for name in ON_DEVICE.values() if name}
    for name, dist in sorted(dists.items()):
        for line in dist.requires or []:
            req = Requirement(line)
            if req.marker is not None and not req.marker.evaluate(DEVICE_MARKERS):
                continue
            wanted = _canonical(req.name)
            if wanted in dists:
                have = dists[wanted].version
                if req.specifier and not req.specifier.contains(have, prereleases=True):
                    problems.append(f"{name} needs {req}, the bundle has {have}")
            elif wanted not in device:
                problems.append(f"{name} needs {req}: neither in the bundle nor on the GPU "
                                "machine (ON_DEVICE)")
    return problems


def main(argv: list[str]) -> int:
    problems = missing_imports()
    if argv:
        problems += missing_in_site(Path(argv[0]))
    for line in problems:
        print(f"carry check: {line}", file=sys.stderr)
    if not problems:
        print(f"carry check: every third-party module of {', '.join(ENTRY_POINTS)} is "
              f"bundled or on the GPU machine" + (f"; {argv[0]} has what it needs" if argv else ""))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
