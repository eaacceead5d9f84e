"""gpu/carry_check.py, the guard of the GPU bundle (gpu/make_carry.sh): what the gate and its
benchmark sessions import must be carried or already on the GPU machine, so that a new
import cannot silently break GPU validation again (the results store once did)."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("carry_check", ROOT / "gpu" / "carry_check.py")
carry_check = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(carry_check)


def test_everything_the_gate_imports_is_carried_or_on_the_gpu_machine():
    done = subprocess.run([sys.executable, "gpu/carry_check.py"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert carry_check.missing_imports() == []


def test_the_walk_reaches_the_results_store_and_the_benchmark_session():
    found = carry_check.third_party_imports()
    assert "pnsuite.store.results_store" in found["alembic"]
    assert "pnsuite.store.schema" in found["sqlalchemy"]
    assert "tritonclient" in found and "scipy" in found
    # the benchmark sessions' pytest layer (conftest -> fixtures.plugin -> fixtures.*)
    assert any(user.startswith("fixtures.") for user in found["pytest"])
    # nothing of the standard library or of the repository itself
    assert not {"json", "pathlib", "pnsuite", "fixtures", "tests"} & found.keys()


def test_an_import_that_is_not_carried_is_named(monkeypatch):
    monkeypatch.delitem(carry_check.BUNDLED, "sqlalchemy")
    missing = carry_check.missing_imports()
    assert len(missing) == 1 and missing[0].startswith("sqlalchemy: imported by ")
    assert "pnsuite.store.schema" in missing[0]


def _dist(site: Path, name: str, version: str, *requires: str) -> None:
    info = site / f"{name}-{version}.dist-info"
    info.mkdir(parents=True)
    lines = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}",
             *(f"Requires-Dist: {r}" for r in requires)]
    (info / "METADATA").write_text("\n".join(lines) + "\n")


def test_a_site_missing_a_module_or_a_requirement_is_refused(tmp_path, monkeypatch):
    site = tmp_path / "site"
    monkeypatch.setattr(carry_check, "BUNDLED", {"alembic": "Alembic", "mako": "Mako",
                                                 "typing_extensions": "typing_extensions"})
    (site / "alembic").mkdir(parents=True)
    (site / "typing_extensions.py").write_text("")
    _dist(site, "alembic", "1.20.1", "SQLAlchemy>=2.0", "Mako", "typing-extensions>=4.12",
          'tomli; python_version < "3.11"', 'tzdata; extra == "tz"', "requests")
    _dist(site, "SQLAlchemy", "1.4.54")
    _dist(site, "typing_extensions", "4.16.0")
    problems = carry_check.missing_in_site(site)
    assert problems == [
        f"mako: listed in BUNDLED (Mako) but not in {site}",
        "alembic needs SQLAlchemy>=2.0, the bundle has 1.4.54",
        "alembic needs Mako: neither in the bundle nor on the GPU machine (ON_DEVICE)",
    ], problems  # tomli (not on 3.12), tzdata (an extra) and requests (on the machine) pass


@pytest.mark.parametrize("module", ["asyncore", "distutils", "imp"])
def test_what_python_312_dropped_is_not_taken_for_the_standard_library(module):
    assert module not in carry_check._stdlib()
