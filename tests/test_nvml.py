"""NVML sampling: aggregation arithmetic, the no-GPU fallback, the thread with a fake NVML."""

from __future__ import annotations

import math
import time
from types import SimpleNamespace

import pytest

from reusebench.core.errors import InputError
from reusebench.training.seg import nvml

MIB = 2**20


def test_summary_is_peak_mib_mean_percent_and_count():
    # peak of 1, 3 and 2.5 MiB is 3 MiB; mean of 10, 20 and 60 % is 30 %.
    assert nvml.summarise_samples([1 * MIB, 3 * MIB, 2.5 * MIB], [10, 20, 60]) == (3.0, 30.0, 3)


def test_summary_of_no_samples_is_nan():
    peak, mean, count = nvml.summarise_samples([], [])
    assert math.isnan(peak) and math.isnan(mean) and count == 0


def test_summary_needs_paired_samples():
    with pytest.raises(InputError, match="2 memory samples but 1 utilisation"):
        nvml.summarise_samples([1, 2], [3])


def test_sampler_without_a_gpu_reports_nan_and_no_samples():
    with nvml.NvmlSampler(None, rate_hz=10.0) as sampler:
        summary = sampler.epoch_summary()
    assert math.isnan(summary[0]) and math.isnan(summary[1]) and summary[2] == 0
    assert sampler.status == "no GPU in use" and not sampler.active


def test_sampler_on_a_machine_without_nvml_reports_the_reason():
    ok, reason = nvml.available()
    if ok:
        pytest.skip("NVML sees a GPU here")
    assert reason
    with nvml.NvmlSampler(0, rate_hz=10.0) as sampler:
        peak, mean, count = sampler.epoch_summary()
    assert math.isnan(peak) and math.isnan(mean) and count == 0
    assert sampler.status == reason


class FakeNvml:
    """Enough of pynvml for the sampler: memory used grows by 1 MiB a read, utilisation 50 %."""

    def __init__(self):
        self.reads = 0
        self.initialised = 0

    def nvmlInit(self):
        self.initialised += 1

    def nvmlShutdown(self):
        self.initialised -= 1

    def nvmlDeviceGetCount(self):
        return 1

    def nvmlDeviceGetHandleByIndex(self, index):
        return index

    def nvmlDeviceGetMemoryInfo(self, handle):
        self.reads += 1
        return SimpleNamespace(used=self.reads * MIB)

    def nvmlDeviceGetUtilizationRates(self, handle):
        return SimpleNamespace(gpu=50)


def test_sampler_thread_summarises_and_resets_per_epoch(monkeypatch):
    fake = FakeNvml()
    monkeypatch.setattr(nvml, "_import_pynvml", lambda: fake)
    with nvml.NvmlSampler(0, rate_hz=200.0) as sampler:
        assert sampler.active and sampler.status == "ok"
        time.sleep(0.1)
        peak, mean, count = sampler.epoch_summary()
        second_peak, _, second_count = sampler.epoch_summary()
    # read k reports k MiB, so the peak of reads 1..count is count MiB
    assert count >= 2 and peak == count and mean == 50.0
    assert second_count >= 1 and second_peak == count + second_count  # only the new reads
    assert fake.initialised == 0 and not sampler.active


def test_bad_rate_is_an_input_error():
    with pytest.raises(InputError, match="rate must be positive"):
        nvml.NvmlSampler(0, rate_hz=0)


@pytest.mark.gpu
def test_sampler_reads_a_real_gpu():
    ok, reason = nvml.available()
    if not ok:
        pytest.skip(f"no NVML GPU: {reason}")
    with nvml.NvmlSampler(0, rate_hz=20.0) as sampler:
        time.sleep(0.3)
        peak, mean, count = sampler.epoch_summary()
    assert sampler.status == "ok" and count >= 2
    assert peak > 0 and 0.0 <= mean <= 100.0
