"""The torch device of a run: 'cpu', 'cuda', 'cuda:N' or a GPU model name, and what the loop
and the provenance read of it (synchronised clock, peak memory, NVML index, description)."""

from __future__ import annotations

import math
import platform
import socket
import time
from typing import Any

import torch

from reusebench.core.errors import InputError
from reusebench.training.seg import nvml


def resolve_device(device: str) -> torch.device:
    """The torch device for 'cpu', 'cuda', 'cuda:N' or a GPU model name (checked on cuda:0)."""
    if device.lower() == "cpu":
        return torch.device("cpu")
    host = socket.gethostname()
    if not torch.cuda.is_available():
        raise InputError(f"device {device!r} was requested but no CUDA device is available on "
                         f"{host}.")
    if device == "cuda" or device.startswith("cuda:"):
        return _cuda_by_index(device, host)
    name = torch.cuda.get_device_name(0)
    if device.lower() not in name.lower():
        raise InputError(f"device {device!r} was requested but cuda:0 on {host} is {name!r}.")
    return torch.device("cuda:0")


def _cuda_by_index(device: str, host: str) -> torch.device:
    index_text = device.partition(":")[2] or "0"
    count = torch.cuda.device_count()
    if not index_text.isdigit() or int(index_text) >= count:
        raise InputError(f"device {device!r} was requested but {host} has CUDA devices "
                         f"cuda:0..cuda:{count - 1} only.")
    return torch.device(f"cuda:{index_text}")


def nvml_device(torch_device: torch.device) -> int | None:
    """The NVML index of a CUDA device (matched by UUID), None on the CPU."""
    if torch_device.type != "cuda":
        return None
    index = torch_device.index or 0
    uuid = getattr(torch.cuda.get_device_properties(index), "uuid", None)
    return nvml.nvml_index(None if uuid is None else str(uuid), index)


def clock(device: torch.device) -> float:
    """A performance-counter reading once the device's queued work is done."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter()


def reset_peak_memory(device: torch.device) -> None:
    """Start torch's peak-memory count afresh (CUDA only)."""
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def peak_memory_mb(device: torch.device) -> float:
    """The most memory torch allocated since the last reset, in MiB; NaN on the CPU."""
    if device.type != "cuda":
        return math.nan
    return torch.cuda.max_memory_allocated(device) / nvml.MIB


def device_info(device: torch.device) -> dict[str, Any]:
    """The device's name and, for CUDA, the driver, CUDA and cuDNN versions."""
    if device.type != "cuda":
        return {"torch_device": str(device), "name": platform.processor() or platform.machine()}
    return {"torch_device": str(device), "name": torch.cuda.get_device_name(device),
            "driver": nvml.driver_version(), "cuda": torch.version.cuda,
            "cudnn": torch.backends.cudnn.version()}
