"""Segmentation architectures: build, logits shape, pretrained loading with a fresh head."""

from __future__ import annotations

import pytest
import torch

from reusebench.core.errors import InputError
from reusebench.training.seg.models import (
    ARCHS,
    build_model,
    is_head_key,
    load_pretrained,
    load_torchvision_coco,
)

PAPER_ARCHS = ("deeplab50", "deeplab101", "mobilenetv3", "lraspp", "fcn50", "fcn101")


def save_checkpoint(model, path):
    torch.save({"model_state": model.state_dict(), "arch": model.arch,
                "n_classes": model.n_classes}, path)
    return path


def split_state(model):
    state = {key: value.clone() for key, value in model.net.state_dict().items()}
    head = {key: value for key, value in state.items() if is_head_key(model.arch, key)}
    body = {key: value for key, value in state.items() if key not in head}
    return body, head


def assert_same_tensors(actual, expected):
    assert actual.keys() == expected.keys()
    for key in expected:
        assert torch.equal(actual[key], expected[key]), key


def test_archs_are_the_papers_six_plus_unet():
    assert set(ARCHS) == {*PAPER_ARCHS, "unet"}


@pytest.mark.parametrize("arch", ["lraspp", "unet"])  # every arch: test_seg_train.py
def test_pretrained_weights_keep_the_body_and_reinitialise_the_head(arch, tmp_path):
    torch.manual_seed(0)
    source = build_model(arch, n_classes=3, in_channels=3)
    checkpoint = save_checkpoint(source, tmp_path / "source.pt")
    source_body, source_head = split_state(source)
    torch.manual_seed(1)
    target = build_model(arch, n_classes=2, in_channels=1)
    _, fresh_head = split_state(target)

    load_pretrained(target, checkpoint, n_classes=2)

    target_body, target_head = split_state(target)
    assert source_head and fresh_head.keys() == target_head.keys()
    assert_same_tensors(target_body, source_body)
    assert_same_tensors(target_head, fresh_head)


def test_same_class_count_still_gets_a_fresh_head(tmp_path):
    torch.manual_seed(0)
    source = build_model("lraspp", n_classes=2, in_channels=3)
    _, source_head = split_state(source)
    target = build_model("lraspp", n_classes=2, in_channels=3)
    _, fresh_head = split_state(target)
    load_pretrained(target, save_checkpoint(source, tmp_path / "source.pt"), n_classes=2)
    _, target_head = split_state(target)
    assert_same_tensors(target_head, fresh_head)
    assert not torch.equal(target_head["classifier.high_classifier.weight"],
                           source_head["classifier.high_classifier.weight"])


@pytest.mark.parametrize(("arch", "size", "channels"),
                         [("unet", (36, 40), 1), ("unet", (32, 32), 3), ("lraspp", (30, 34), 1)])
def test_logits_match_any_input_size_and_grey_input(arch, size, channels):
    model = build_model(arch, n_classes=4, in_channels=channels).eval()
    with torch.no_grad():
        logits = model(torch.randn(2, channels, *size))
    assert logits.shape == (2, 4, *size)


def test_bare_torchvision_state_dict_with_aux_head_loads(tmp_path):
    """COCO files are bare state dicts of a 21-class model with an auxiliary head."""
    from torchvision.models.segmentation import deeplabv3_mobilenet_v3_large

    coco_like = deeplabv3_mobilenet_v3_large(weights=None, weights_backbone=None,
                                             num_classes=21, aux_loss=True)
    path = tmp_path / "coco.pth"
    torch.save(coco_like.state_dict(), path)
    target = build_model("mobilenetv3", n_classes=2, in_channels=1)
    load_pretrained(target, path, n_classes=2)
    assert torch.equal(target.net.state_dict()["backbone.0.0.weight"],
                       coco_like.state_dict()["backbone.0.0.weight"])


def test_checkpoint_of_another_arch_is_refused(tmp_path):
    checkpoint = save_checkpoint(build_model("lraspp", 2, 3), tmp_path / "lraspp.pt")
    with pytest.raises(InputError, match="trained for architecture 'lraspp', not 'mobilenetv3'"):
        load_pretrained(build_model("mobilenetv3", 2, 3), checkpoint, n_classes=2)


def test_missing_checkpoint_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="no such checkpoint"):
        load_pretrained(build_model("lraspp", 2, 3), tmp_path / "none.pt", n_classes=2)


def test_unknown_arch_lists_the_known_ones():
    with pytest.raises(InputError, match="Unknown architecture 'segnet'") as caught:
        build_model("segnet", 2, 3)
    assert all(arch in str(caught.value) for arch in ARCHS)


@pytest.mark.parametrize(("n_classes", "in_channels"), [(1, 3), (2, 2)])
def test_bad_class_or_channel_count(n_classes, in_channels):
    with pytest.raises(InputError):
        build_model("lraspp", n_classes, in_channels)


def test_coco_weights_missing_from_the_cache_name_torch_home(tmp_path):
    with pytest.raises(InputError, match="not in the torch hub cache") as caught:
        load_torchvision_coco("deeplab50", torch_home=tmp_path)
    message = str(caught.value)
    assert f"TORCH_HOME={tmp_path}" in message and "init: random" in message


def test_coco_weights_found_in_the_cache(tmp_path):
    checkpoints = tmp_path / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    (checkpoints / "lraspp_mobilenet_v3_large-d234d4ea.pth").write_bytes(b"")
    path = load_torchvision_coco("lraspp", torch_home=tmp_path)
    assert path == checkpoints / "lraspp_mobilenet_v3_large-d234d4ea.pth"


def test_unet_has_no_coco_weights():
    with pytest.raises(InputError, match="no torchvision COCO weights"):
        load_torchvision_coco("unet")
