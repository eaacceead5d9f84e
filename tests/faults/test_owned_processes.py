"""What the suite starts is ours to the census, the leak check, the CPU accounting and the
reaper, including processes whose command lines cannot carry the owner tag."""

from __future__ import annotations

import subprocess
import sys

from pnsuite import ownership
from pnsuite.client.multiprocess_load import MultiProcessLoad


def _census_pids(census: ownership.Census) -> set[int]:
    return {int(line.split(":", 1)[0]) for line in census.processes}


def test_load_workers_are_ours_for_the_census_and_the_cpu_accounting(
        shared_server, instances_repo, capture_tensor):
    server = shared_server(instances_repo)
    before = ownership.take()
    with MultiProcessLoad(server.grpc_url, capture_tensor, 2, processes=2) as load:
        workers = set(load.worker_pids)
        added = ownership.take() - before
        # A worker left running would be reported by the leak check...
        assert workers <= _census_pids(added), added.describe()
        # ...and the CPU it burns is the suite's own, not a neighbour's.
        assert workers <= ownership.our_pids()
        assert load.run(4).requests == 4
    assert not _census_pids(ownership.take() - before) & workers


def test_a_process_started_for_us_carries_the_tag_and_a_neighbour_does_not():
    sleeper = [sys.executable, "-c", "import time; time.sleep(60)"]
    ours = subprocess.Popen(sleeper, env=ownership.owned_environment())
    neighbour = subprocess.Popen(sleeper, env=ownership.foreign_environment())
    try:
        tagged = set(ownership.tagged_pids())
        assert ours.pid in tagged and ours.pid in _census_pids(ownership.take())
        assert neighbour.pid not in tagged
    finally:
        for proc in (ours, neighbour):
            proc.kill()
            proc.wait(10)


def test_the_reaper_kills_a_process_whose_owner_died_by_its_environment_tag():
    # An owner that is gone: a process that has exited (its start time no longer matches).
    gone = subprocess.Popen(["true"])
    owner = ownership.owner_of_pid(gone.pid)
    gone.wait()
    orphan = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"],
                              env={**ownership.foreign_environment(),
                                   ownership.OWNER_ENV: owner.tag})
    try:
        reaped = ownership.reap_orphans()
        assert orphan.wait(10) == -9
        assert any(line.startswith(f"{orphan.pid}:") for line in reaped.processes)
    finally:
        if orphan.poll() is None:
            orphan.kill()
            orphan.wait(10)
