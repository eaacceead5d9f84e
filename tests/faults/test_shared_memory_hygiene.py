"""System shared memory: unregistered and unlinked after every use; stale regions reaped."""

import subprocess

import numpy as np
import pytest
import tritonclient.utils.shared_memory as shm
from tritonclient.utils import InferenceServerException

from pnsuite import ownership
from pnsuite.detection import detectnet
from pnsuite.client.peoplenet import PeopleNetClient
from pnsuite.ownership import SHM_DIR


def test_regions_are_unregistered_and_unlinked_even_after_a_failed_request(triton_server):
    client = PeopleNetClient(triton_server.grpc_url, model="no_such_model", memory="system")
    try:
        with pytest.raises(InferenceServerException):
            client.infer(np.zeros((1, *detectnet.INPUT_SHAPE), np.float32))
        names = [r.name for r in client._regions.values()]
        assert names and all((SHM_DIR / n).exists() for n in names)
    finally:
        client.close()
    assert not any((SHM_DIR / n).exists() for n in names)
    with triton_server.grpc_client() as admin:
        registered = admin.get_system_shared_memory_status(as_json=True).get("regions", {})
    assert not [n for n in registered if n in names], registered


def test_a_stale_region_of_a_killed_run_is_reaped_and_does_not_poison_the_next(triton_server):
    dead = subprocess.Popen(["true"])
    owner = ownership.owner_of_pid(dead.pid)  # read while it is a zombie
    dead.wait()
    stale = ownership.client_region_prefix(dead.pid, owner.tag) + "0"
    shm.create_shared_memory_region(stale, "/" + stale, 1024)
    try:
        assert (SHM_DIR / stale).exists()
        reaped = ownership.reap_orphans()
        assert stale in reaped.shm_regions
        assert not (SHM_DIR / stale).exists()
    finally:
        shm.mapped_shared_memory_regions().remove("/" + stale)  # unlinked already
    chw = np.zeros((1, *detectnet.INPUT_SHAPE), np.float32)
    with PeopleNetClient(triton_server.grpc_url, memory="system") as client:
        cov, _ = client.infer(chw)
    assert cov.shape == (1, *detectnet.COV_SHAPE)
