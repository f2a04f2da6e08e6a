"""GPU memory and utilisation sampled through NVML in a background thread, summarised per epoch.

Memory is NVML's ``used`` figure (the whole device, as ``nvidia-smi`` shows it) in MiB
(2**20 bytes); utilisation is NVML's ``gpu`` percentage. Where NVML or a GPU is missing the
sampler is a no-op that reports NaN and zero samples, with the reason in :attr:`NvmlSampler.status`.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from types import ModuleType, TracebackType

from reusebench.core.errors import InputError

MIB = 2**20


def summarise_samples(mem_bytes: Sequence[float],
                      util_pct: Sequence[float]) -> tuple[float, float, int]:
    """(peak memory in MiB, mean utilisation in %, sample count); NaN, NaN, 0 for no samples."""
    if len(mem_bytes) != len(util_pct):
        raise InputError(f"Got {len(mem_bytes)} memory samples but {len(util_pct)} utilisation "
                         "samples.")
    if not mem_bytes:
        return math.nan, math.nan, 0
    return max(mem_bytes) / MIB, sum(util_pct) / len(util_pct), len(mem_bytes)


def _import_pynvml() -> ModuleType:
    import pynvml

    return pynvml


def _init() -> tuple[ModuleType | None, str]:
    """Initialised pynvml and "ok", or None and why not."""
    try:
        pynvml = _import_pynvml()
        pynvml.nvmlInit()
    except Exception as error:
        return None, f"NVML is not available ({type(error).__name__}: {error})"
    try:
        count = pynvml.nvmlDeviceGetCount()
    except Exception as error:
        pynvml.nvmlShutdown()
        return None, f"NVML cannot count devices ({type(error).__name__}: {error})"
    if count == 0:
        pynvml.nvmlShutdown()
        return None, "NVML sees no GPU"
    return pynvml, "ok"


def available() -> tuple[bool, str]:
    """Whether NVML can sample a GPU here, and if not, why."""
    pynvml, reason = _init()
    if pynvml is None:
        return False, reason
    pynvml.nvmlShutdown()
    return True, reason


def driver_version() -> str | None:
    """The NVIDIA driver version NVML reports, or None without NVML."""
    pynvml, _ = _init()
    if pynvml is None:
        return None
    try:
        return str(pynvml.nvmlSystemGetDriverVersion())
    finally:
        pynvml.nvmlShutdown()


def nvml_index(uuid: str | None, fallback: int) -> int:
    """NVML index of the GPU with this UUID (CUDA and NVML orders can differ), else fallback."""
    pynvml, _ = _init()
    if pynvml is None or not uuid:
        return fallback
    try:
        for index in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            if str(pynvml.nvmlDeviceGetUUID(handle)).removeprefix("GPU-") == \
                    uuid.removeprefix("GPU-"):
                return index
        return fallback
    finally:
        pynvml.nvmlShutdown()


class NvmlSampler:
    """Context manager sampling one GPU at ``rate_hz``; ``device_index`` None means no GPU."""

    def __init__(self, device_index: int | None, rate_hz: float = 10.0) -> None:
        if not rate_hz > 0:
            raise InputError(f"The NVML sampling rate must be positive, got {rate_hz}.")
        self.device_index = device_index
        self.period = 1.0 / rate_hz
        self.status = "not started"
        self._pynvml: ModuleType | None = None
        self._handle: object = None
        self._lock = threading.Lock()
        self._mem: list[float] = []
        self._util: list[float] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def active(self) -> bool:
        """Whether the background thread samples a GPU."""
        return self._thread is not None

    def __enter__(self) -> NvmlSampler:
        if self.device_index is None:
            self.status = "no GPU in use"
            return self
        self._pynvml, self.status = _init()
        if self._pynvml is None:
            return self
        try:
            self._handle = self._pynvml.nvmlDeviceGetHandleByIndex(self.device_index)
        except Exception as error:
            self.status = f"NVML has no device {self.device_index} ({type(error).__name__})"
            self._shutdown()
            return self
        self._thread = threading.Thread(target=self._sample_loop, name="nvml", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None
        self._shutdown()

    def _shutdown(self) -> None:
        if self._pynvml is not None:
            self._pynvml.nvmlShutdown()
            self._pynvml = None

    def _sample_loop(self) -> None:
        while not self._stop.is_set():
            self._sample_once()
            self._stop.wait(self.period)

    def _sample_once(self) -> None:
        try:
            used = self._pynvml.nvmlDeviceGetMemoryInfo(self._handle).used
            util = self._pynvml.nvmlDeviceGetUtilizationRates(self._handle).gpu
        except Exception as error:  # a failed read loses one sample, not the run
            self.status = f"ok, with failed reads ({type(error).__name__})"
            return
        with self._lock:
            self._mem.append(float(used))
            self._util.append(float(util))

    def epoch_summary(self) -> tuple[float, float, int]:
        """(max MiB, mean %, n) of the samples since the last call, which it then forgets."""
        if self.active and not self._mem:
            self._sample_once()  # a period shorter than the sampling interval still gets one
        with self._lock:
            mem, util = self._mem, self._util
            self._mem, self._util = [], []
        return summarise_samples(mem, util)
