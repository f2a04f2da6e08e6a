"""Study A segmentation architectures: the paper's six torchvision models plus a small U-Net.

Every model is wrapped in :class:`SegmentationNet`, whose forward maps an image batch
(N, C, H, W) with C in {1, 3} to logits (N, n_classes, H, W). Grey input is repeated to three
channels in front of the network (a fixed, parameter-free repeat), so every architecture keeps
its standard three-channel first convolution and a checkpoint pretrained on RGB or grey data,
or torchvision's COCO weights, fits any target.

No weights are ever downloaded: torchvision models are built with ``weights=None`` and
``weights_backbone=None``, the U-Net with ``encoder_weights=None``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlparse

import torch
import torch.nn.functional as F
from torch import nn

from reusebench.core.errors import InputError

# arch -> torchvision builder, as in the authors' training script
TORCHVISION_BUILDERS = {
    "deeplab50": "deeplabv3_resnet50",
    "deeplab101": "deeplabv3_resnet101",
    "mobilenetv3": "deeplabv3_mobilenet_v3_large",
    "lraspp": "lraspp_mobilenet_v3_large",
    "fcn50": "fcn_resnet50",
    "fcn101": "fcn_resnet101",
}
# arch -> torchvision weights enum whose COCO_WITH_VOC_LABELS_V1 entry holds the COCO file
COCO_WEIGHTS = {
    "deeplab50": "DeepLabV3_ResNet50_Weights",
    "deeplab101": "DeepLabV3_ResNet101_Weights",
    "mobilenetv3": "DeepLabV3_MobileNet_V3_Large_Weights",
    "lraspp": "LRASPP_MobileNet_V3_Large_Weights",
    "fcn50": "FCN_ResNet50_Weights",
    "fcn101": "FCN_ResNet101_Weights",
}
UNET_ENCODER = "resnet18"
UNET_MULTIPLE = 32  # smp's U-Net (depth 5) needs H and W divisible by 2**5
ARCHS = (*TORCHVISION_BUILDERS, "unet")
# Submodules re-initialised when weights come from another task: the whole head, as the
# authors' script replaces model.classifier with a fresh DeepLabHead/FCNHead/LRASPPHead.
HEAD_PREFIXES = {arch: ("classifier.",) for arch in TORCHVISION_BUILDERS}
HEAD_PREFIXES["unet"] = ("segmentation_head.",)


class SegmentationNet(nn.Module):
    """A segmentation network returning logits (N, n_classes, H, W) for any H and W."""

    def __init__(self, net: nn.Module, arch: str, n_classes: int, in_channels: int,
                 size_multiple: int = 1) -> None:
        super().__init__()
        self.net = net
        self.arch = arch
        self.n_classes = n_classes
        self.in_channels = in_channels
        self.size_multiple = size_multiple

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        height, width = images.shape[-2:]
        if images.shape[1] == 1:
            images = images.expand(-1, 3, -1, -1)
        images = _pad_to_multiple(images, self.size_multiple)
        logits = self.net(images)
        if isinstance(logits, dict):
            logits = logits["out"]
        return logits[..., :height, :width]


def _pad_to_multiple(images: torch.Tensor, multiple: int) -> torch.Tensor:
    height, width = images.shape[-2:]
    pad_bottom, pad_right = (-height) % multiple, (-width) % multiple
    if pad_bottom == 0 and pad_right == 0:
        return images
    mode = "reflect" if pad_bottom < height and pad_right < width else "replicate"
    return F.pad(images, (0, pad_right, 0, pad_bottom), mode=mode)


def check_arch(arch: str) -> None:
    """Raise InputError unless ``arch`` is one of :data:`ARCHS`."""
    if arch not in ARCHS:
        raise InputError(f"Unknown architecture {arch!r}: choose one of {', '.join(ARCHS)}.")


def build_model(arch: str, n_classes: int, in_channels: int) -> SegmentationNet:
    """A randomly initialised ``arch`` for ``n_classes`` classes and 1 or 3 input channels."""
    check_arch(arch)
    if n_classes < 2:
        raise InputError(f"A segmentation model needs at least 2 classes, got {n_classes}.")
    if in_channels not in (1, 3):
        raise InputError(f"Images must have 1 or 3 channels, got {in_channels}.")
    if arch == "unet":
        return SegmentationNet(_build_unet(n_classes), arch, n_classes, in_channels,
                               size_multiple=UNET_MULTIPLE)
    return SegmentationNet(_build_torchvision(arch, n_classes), arch, n_classes, in_channels)


def _build_torchvision(arch: str, n_classes: int) -> nn.Module:
    from torchvision.models import segmentation

    builder: Callable[..., nn.Module] = getattr(segmentation, TORCHVISION_BUILDERS[arch])
    options = {} if arch == "lraspp" else {"aux_loss": False}
    return builder(weights=None, weights_backbone=None, num_classes=n_classes, **options)


def _build_unet(n_classes: int) -> nn.Module:
    import segmentation_models_pytorch as smp

    return smp.Unet(encoder_name=UNET_ENCODER, encoder_weights=None, in_channels=3,
                    classes=n_classes)


def is_head_key(arch: str, key: str) -> bool:
    """Whether a state-dict key (of the inner network) belongs to ``arch``'s classifier head."""
    return key.startswith(HEAD_PREFIXES[arch])


def load_pretrained(model: SegmentationNet, checkpoint_path: str | Path,
                    n_classes: int) -> SegmentationNet:
    """Copy all non-head weights of a checkpoint into ``model``; its head stays freshly initialised.

    The checkpoint is one written by a training run (``{"model_state": ..., "arch": ...}``)
    or a bare torchvision state dict (the COCO files, whose auxiliary-head weights are left
    unused); its class count may differ from ``n_classes``, which must be the class count
    ``model`` was built for.
    """
    if model.n_classes != n_classes:
        raise InputError(f"The model was built for {model.n_classes} classes, not {n_classes}.")
    source = _read_state(Path(checkpoint_path), model.arch)
    target = model.net.state_dict()
    body = {key: value for key, value in target.items() if not is_head_key(model.arch, key)}
    _check_fits(source, body, checkpoint_path, model.arch)
    model.net.load_state_dict({**target, **{key: source[key] for key in body}})
    return model


def _read_state(path: Path, arch: str) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise InputError(f"{path}: no such checkpoint file.")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise InputError(f"{path}: cannot be read as a PyTorch checkpoint "
                         f"({type(error).__name__}).") from error
    if not isinstance(checkpoint, dict):
        raise InputError(f"{path}: holds no state dict.")
    if "model_state" not in checkpoint:
        return checkpoint
    if checkpoint.get("arch") != arch:
        raise InputError(f"{path}: was trained for architecture {checkpoint.get('arch')!r}, "
                         f"not {arch!r}.")
    return {_strip_wrapper(key): value for key, value in checkpoint["model_state"].items()}


def _strip_wrapper(key: str) -> str:
    return key.removeprefix("net.")


def _check_fits(source: dict[str, torch.Tensor], body: dict[str, torch.Tensor],
                path: str | Path, arch: str) -> None:
    for key, value in body.items():
        if key not in source:
            raise InputError(f"{path}: lacks weight {key!r} of architecture {arch!r}.")
        if tuple(source[key].shape) != tuple(value.shape):
            raise InputError(f"{path}: weight {key!r} has shape {tuple(source[key].shape)}, "
                             f"but architecture {arch!r} needs {tuple(value.shape)}.")


def load_torchvision_coco(arch: str, torch_home: str | Path | None = None) -> Path:
    """Path of torchvision's COCO weights for ``arch`` in the torch hub cache; never downloads.

    The hub directory is ``torch_home/hub``; by default torch's own rule applies
    (``$TORCH_HOME``, else ``~/.cache/torch``). Torch's global hub setting is left alone.
    Pass the returned path to :func:`load_pretrained`.
    """
    check_arch(arch)
    if arch not in COCO_WEIGHTS:
        raise InputError(f"Architecture {arch!r} has no torchvision COCO weights: use "
                         "init: random or pretrained.")
    from torchvision.models import segmentation

    url = getattr(segmentation, COCO_WEIGHTS[arch]).COCO_WITH_VOC_LABELS_V1.url
    hub_dir = Path(torch.hub.get_dir()) if torch_home is None else Path(torch_home) / "hub"
    path = hub_dir / "checkpoints" / os.path.basename(urlparse(url).path)
    if not path.is_file():
        raise InputError(f"torchvision COCO weights for {arch} are not in the torch hub cache "
                         f"(TORCH_HOME={hub_dir.parent}): download them on a machine with "
                         f"network access from {url} into {path.parent}, or use init: random.")
    return path
