"""Shared-memory regions for request tensors: system memory (POSIX shm) or GPU memory
(CUDA IPC), created here and registered with the server, through tritonclient's utils.

`memory` (pnsuite.client.memory.Memory) follows the Triton Jetson example's `-m` flag:
"system" (POSIX shared memory) or "gpu" (CUDA shared memory on device `device_id`).
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any, Protocol

import numpy as np
import tritonclient.grpc as grpcclient
import tritonclient.utils.shared_memory as system_shm

from pnsuite import ownership
from pnsuite.client.memory import Memory
from pnsuite.errors import SuiteError

#: tritonclient's CUDA utils keep one CUDA stream per device in a module-level dict,
#: created on first use and destroyed with the last region: two threads that race there
#: destroy a stream the other is copying on (a segfault, seen with 8 clients at once).
_CUDA_LOCK = threading.Lock()


class SharedMemoryUnavailable(SuiteError):
    """The asked-for kind of shared memory cannot be used here: says why and what to do."""


class Region(Protocol):
    name: str
    byte_size: int

    def write(self, array: np.ndarray) -> None: ...
    def read(self, shape: Sequence[int]) -> np.ndarray: ...
    def release(self) -> None: ...


def sweep_regions(url: str, prefix: str) -> list[str]:
    """Unregister from the server at `url`, and unlink, every region whose name starts
    with `prefix`: what a process killed before its clean-up left (its CUDA memory went
    with it). Returns the names found."""
    found = set(ownership.remove_shm_regions(prefix))
    try:
        with grpcclient.InferenceServerClient(url) as client:
            for status, unregister in (
                (client.get_system_shared_memory_status, client.unregister_system_shared_memory),
                (client.get_cuda_shared_memory_status, client.unregister_cuda_shared_memory),
            ):
                for region in status(as_json=True, client_timeout=10).get("regions", {}):
                    name = region if isinstance(region, str) else region.get("name", "")
                    if name.startswith(prefix):
                        unregister(name, client_timeout=10)
                        found.add(name)
    except Exception:  # noqa: BLE001 - a server that is gone holds no registrations
        pass
    return sorted(found)


def _unregister_then_free(
    unregister: Callable[[str], Any], name: str, free: Callable[[], None]
) -> None:
    try:
        unregister(name)
    except Exception:  # noqa: BLE001 - the server may be gone; free the memory regardless
        pass
    finally:
        free()


class SystemRegion:
    """One POSIX shared memory region, registered with the server."""

    def __init__(self, client: grpcclient.InferenceServerClient, byte_size: int) -> None:
        self.name = ownership.client_region_name()
        self.byte_size = byte_size
        self._client = client
        self._handle = system_shm.create_shared_memory_region(self.name, "/" + self.name, byte_size)
        try:
            client.register_system_shared_memory(self.name, "/" + self.name, byte_size)
        except BaseException:
            system_shm.destroy_shared_memory_region(self._handle)
            raise

    def write(self, array: np.ndarray) -> None:
        system_shm.set_shared_memory_region(self._handle, [array])

    def read(self, shape: Sequence[int]) -> np.ndarray:
        # A copy: the region is reused by the next request.
        return np.array(system_shm.get_contents_as_numpy(self._handle, np.float32, list(shape)))

    def release(self) -> None:
        _unregister_then_free(
            self._client.unregister_system_shared_memory,
            self.name,
            lambda: system_shm.destroy_shared_memory_region(self._handle),
        )


def cuda_utils() -> ModuleType:
    """tritonclient's CUDA shared-memory utils, or SharedMemoryUnavailable saying why not."""
    try:
        with warnings.catch_warnings():
            # cuda-python 12 warns that cuda.cudart is deprecated: tritonclient's to mend.
            warnings.simplefilter("ignore", FutureWarning)
            import tritonclient.utils.cuda_shared_memory as cuda_shm
    except (ImportError, RuntimeError) as err:
        # tritonclient 2.51 imports `cuda.cudart`, which cuda-python 13 no longer has.
        raise SharedMemoryUnavailable(
            "GPU (CUDA) shared memory needs tritonclient's CUDA utils with cuda-python 12 "
            "(pip install -e '.[gpu]', which pins cuda-python>=12,<13): "
            f"{type(err).__name__}: {err}"
        ) from err
    return cuda_shm


def require_gpu(device_id: int = 0) -> None:
    """Raise SharedMemoryUnavailable unless CUDA device `device_id` can be used."""
    cuda_utils()
    from cuda import cudart  # present once cuda_utils() imported

    err, count = cudart.cudaGetDeviceCount()
    if err != cudart.cudaError_t.cudaSuccess:
        raise SharedMemoryUnavailable(
            f"GPU (CUDA) shared memory needs an NVIDIA GPU and driver: cudaGetDeviceCount "
            f"returned {err.name}"
        )
    if not 0 <= device_id < count:
        raise SharedMemoryUnavailable(
            f"GPU (CUDA) shared memory on device {device_id}, but this machine has {count}"
        )


class CudaRegion:
    """One CUDA allocation on `device_id`, shared with the server by its IPC handle."""

    def __init__(
        self, client: grpcclient.InferenceServerClient, byte_size: int, device_id: int = 0
    ) -> None:
        self._cuda = cuda_utils()
        self.name = ownership.client_region_name()
        self.byte_size = byte_size
        self.device_id = device_id
        self._client = client
        with _CUDA_LOCK:
            self._handle = self._cuda.create_shared_memory_region(self.name, byte_size, device_id)
        try:
            client.register_cuda_shared_memory(
                self.name, self._cuda.get_raw_handle(self._handle), device_id, byte_size
            )
        except BaseException:
            with _CUDA_LOCK:
                self._cuda.destroy_shared_memory_region(self._handle)
            raise

    def write(self, array: np.ndarray) -> None:
        with _CUDA_LOCK:
            self._cuda.set_shared_memory_region(self._handle, [array])

    def read(self, shape: Sequence[int]) -> np.ndarray:
        # A device-to-host copy into a new array.
        with _CUDA_LOCK:
            return self._cuda.get_contents_as_numpy(self._handle, np.float32, list(shape))

    def release(self) -> None:
        def free() -> None:
            with _CUDA_LOCK:
                self._cuda.destroy_shared_memory_region(self._handle)

        _unregister_then_free(self._client.unregister_cuda_shared_memory, self.name, free)


def open_region(
    client: grpcclient.InferenceServerClient, memory: Memory, byte_size: int, device_id: int = 0
) -> Region:
    """A registered region of `byte_size` bytes in system or GPU memory."""
    if memory is Memory.SYSTEM:
        return SystemRegion(client, byte_size)
    if memory is Memory.GPU:
        return CudaRegion(client, byte_size, device_id)
    raise ValueError(f"no shared-memory region for memory={memory!r}")
