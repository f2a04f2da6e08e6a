"""Devices the config names are checked before any job: one sentence, exit 2, nothing run."""

from __future__ import annotations

import pytest
from conftest import copy_workflow, snakemake

from reusebench.glue.devices import _visible, check_devices, device_problem

H100, A100 = ("NVIDIA H100 80GB HBM3", "GPU-1a2b"), ("NVIDIA A100-SXM4-40GB", "GPU-9f8e")


@pytest.mark.parametrize(("visible", "names"), [
    (None, [H100[0], A100[0]]),
    ("", []),
    ("1", [A100[0]]),
    ("GPU-9f,0", [A100[0], H100[0]]),
    ("0,7,1", [H100[0]]),  # CUDA stops at the first entry it cannot resolve
])
def test_cuda_visible_devices_orders_and_hides_gpus_as_cuda_does(visible, names):
    assert _visible([H100, A100], visible) == names


@pytest.mark.parametrize(("device", "gpus", "problem"), [
    ("cpu", [], None),
    ("CPU", [], None),
    ("cuda", [H100[0]], None),
    ("gpu:1", [H100[0], A100[0]], None),
    ("h100", [H100[0]], None),
    ("cuda", [], "no NVIDIA GPU is visible"),
    ("cuda:2", [H100[0], A100[0]], "the GPUs here are cuda:0..cuda:1"),
    ("a100", [H100[0], A100[0]], "cuda:0 is 'NVIDIA H100 80GB HBM3'"),
])
def test_a_device_is_found_or_the_reason_is_named(device, gpus, problem):
    assert device_problem(device, gpus) == problem


def test_the_first_missing_device_is_named_with_its_config_key():
    named = [("study_a.devices[0]", "cpu"), ("study_b.runs[1].devices", "v100")]
    sentence = check_devices(named, [H100[0]])
    assert sentence.startswith("study_b.runs[1].devices names device 'v100', but cuda:0 is "
                               "'NVIDIA H100 80GB HBM3' on ")
    assert sentence.count(".") >= 1 and "\n" not in sentence
    assert check_devices(named[:1], []) is None


def test_a_dry_run_naming_a_gpu_model_this_machine_lacks_stops_before_any_job(tmp_path):
    workdir = copy_workflow(tmp_path)
    result = snakemake(workdir, "--configfile", "tiny.yaml", "--dry-run", "--config",
                       "study_b={pretrain: {device: zz9000}}")
    assert result.returncode == 2
    assert "Error: study_b.pretrain.device names device 'zz9000', but " in result.stderr
    assert "Traceback" not in result.stderr
    assert not (workdir / "results").exists()


def test_the_check_can_be_switched_off_to_plan_from_another_machine(tmp_path):
    workdir = copy_workflow(tmp_path)
    result = snakemake(workdir, "--configfile", "tiny.yaml", "--dry-run", "--config",
                       "study_b={pretrain: {device: zz9000}}", "check_devices=false")
    assert result.returncode == 0, result.stderr[-2000:]
