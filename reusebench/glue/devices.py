"""Devices named in a config, checked against this machine's GPUs before any job starts.

GPUs are listed through NVML (nvidia-ml-py), not torch or TensorFlow, so the check costs
milliseconds and needs neither framework. CUDA_VISIBLE_DEVICES is honoured as CUDA does:
indices or UUID prefixes, and an empty value hides every GPU.
"""

from __future__ import annotations

import os
import socket

GPU_ALIASES = ("cuda", "gpu")


def visible_gpu_names() -> list[str]:
    """Model names of the GPUs CUDA would number cuda:0, cuda:1, …; [] without a driver."""
    try:
        import pynvml
    except ImportError:
        return []
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError:
        return []
    try:
        gpus = [_name_and_uuid(pynvml, index) for index in range(pynvml.nvmlDeviceGetCount())]
    finally:
        pynvml.nvmlShutdown()
    return _visible(gpus, os.environ.get("CUDA_VISIBLE_DEVICES"))


def _name_and_uuid(pynvml, index: int) -> tuple[str, str]:
    handle = pynvml.nvmlDeviceGetHandleByIndex(index)
    return str(pynvml.nvmlDeviceGetName(handle)), str(pynvml.nvmlDeviceGetUUID(handle))


def _visible(gpus: list[tuple[str, str]], visible: str | None) -> list[str]:
    if visible is None:
        return [name for name, _ in gpus]
    chosen = []
    for entry in filter(None, (part.strip() for part in visible.split(","))):
        matches = ([gpus[int(entry)]] if entry.isdigit() and int(entry) < len(gpus)
                   else [gpu for gpu in gpus if gpu[1].startswith(entry)])
        if not matches:
            break  # CUDA stops at the first entry it cannot resolve
        chosen.append(matches[0][0])
    return chosen


def device_problem(device: str, gpu_names: list[str]) -> str | None:
    """Why ``device`` (cpu, cuda, cuda:N, gpu:N or a GPU model name) is not on this machine,
    with ``gpu_names`` numbered as CUDA numbers them; None when it is."""
    text = device.strip().lower()
    if text == "cpu":
        return None
    kind, _, index_text = text.partition(":")
    if not gpu_names:
        return "no NVIDIA GPU is visible"
    if kind in GPU_ALIASES:
        if index_text and not (index_text.isdigit() and int(index_text) < len(gpu_names)):
            return f"the GPUs here are {kind}:0..{kind}:{len(gpu_names) - 1}"
        return None
    if text not in gpu_names[0].lower():
        return f"cuda:0 is {gpu_names[0]!r}"
    return None


def check_devices(named: list[tuple[str, str]], gpu_names: list[str]) -> str | None:
    """The first (config key, device) pair not on this machine, as one sentence; else None."""
    for key, device in named:
        problem = device_problem(device, gpu_names)
        if problem is not None:
            return (f"{key} names device {device!r}, but {problem} on {socket.gethostname()}; "
                    "run on a machine that has it, or set check_devices: false to plan or "
                    "submit from here.")
    return None
