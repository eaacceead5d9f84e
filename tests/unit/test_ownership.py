"""Owner tags, the names that carry them, and liveness by pid and start time (no server)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from pnsuite import ownership
from pnsuite.paths import PROJECT_ROOT

ME = ownership.owner_of_pid(os.getpid())


@pytest.mark.parametrize("name", [
    ownership.server_prefix(),
    ownership.client_region_name(),
    ownership.client_region_name("oversized_batch"),
    ownership.client_region_prefix(4242) + "7",
    ownership.container_name(ownership.server_prefix(), 3),
], ids=["server prefix", "client region", "labelled client region", "worker region",
        "container"])
def test_every_name_the_suite_makes_parses_back_to_its_owner(name):
    assert ownership.parse_owner(name) == ME
    assert name.startswith(ME.tag)


def test_names_without_a_tag_or_with_a_partial_one_have_no_owner():
    for name in ["pnsuite_client_123_x", "pnsuite_123_4_abc_", "sem.mp-abc", "pnsuite_-1_"]:
        assert ownership.parse_owner(name) is None, name


def test_an_owner_is_alive_only_with_its_own_start_time():
    assert ME.alive()
    # The same pid with another start time is a reused pid: its owner is gone.
    assert not ownership.Owner(ME.pid, ME.start + 1).alive()


def test_a_dead_process_has_no_owner_identity():
    proc = subprocess.Popen(["true"])
    owner = ownership.owner_of_pid(proc.pid)  # still a zombie: readable
    proc.wait()
    assert not owner.alive()
    with pytest.raises(ValueError, match=str(proc.pid)):
        ownership.owner_of_pid(proc.pid)


def test_container_tokens_are_judged_by_host_pid_and_start():
    assert ownership.token_alive(ownership.owner_token())
    host = ownership.owner_token().split(":")[0]
    assert not ownership.token_alive(f"{host}:{ME.pid}:{ME.start + 1}")
    assert ownership.token_alive(f"another-host.example:{ME.pid}:1")  # not ours to judge


def test_a_process_that_adopts_a_tag_names_its_regions_after_that_owner():
    code = ("import os; from pnsuite import ownership; ownership.adopt(os.environ['TAG']); "
            "print(os.getpid(), ownership.client_region_name())")
    out = subprocess.run([sys.executable, "-c", code], env={**os.environ, "TAG": ME.tag},
                         cwd=PROJECT_ROOT, capture_output=True, text=True, check=True).stdout
    pid, name = out.split()
    assert name.startswith(ownership.client_region_prefix(int(pid), ME.tag))
    with pytest.raises(ValueError, match="not an owner tag"):
        ownership.adopt("pnsuite_client_1_")
