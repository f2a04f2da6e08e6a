"""Architecture keys from model names, as run names and tracker params write them.

Study A's segmentation models go by their torchvision builders and class names in the
wild (``deeplabv3_resnet50``, ``DeepLabV3ResNet101``, ``fcn_resnet101``,
``lraspp_mobilenet_v3_large``); they map to the pipeline's keys (``deeplab50``,
``deeplab101``, ``fcn101``, ``lraspp``, ``mobilenetv3``). Any other known architecture
name (``unet``, ``resnet50``, ``vgg16``, ``efficientnet-b0``, …: ARCH_PATTERN) is kept
lower-case without separators. A name holding two different architectures, or none, gives
None: the key stays ``unknown``, never a guess.
"""

from __future__ import annotations

import re

ARCH_PATTERN = re.compile(
    r"unet(plusplus)?|fpn|linknet|pspnet|pan|manet|deeplab(v3(plus)?)?\d*|fcn\d*|lraspp"
    r"|mobilenet(v\d(small|large)?)?|resnet\d+|resnext\d+\w*|wideresnet\d+\w*|vgg\d+(bn)?"
    r"|efficientnet(b\d|v2\w*)?|densenet\d+|inception(v\d|resnetv\d)?|xception|alexnet"
    r"|lenet\d*|convnext(tiny|small|base|large)?|vit[bhl]?\d*|swin[tsbl]?\d*"
    r"|segformer(b\d)?|regnet[xy]\w*|squeezenet[\d.]*")
# Compound names, matched in the name lower-cased with everything but letters and digits
# removed; the group is the ResNet depth where there is one.
COMPOUNDS = (
    (re.compile(r"deeplab(?:v3)?resnet(50|101)(?!\d)"), "deeplab{}"),
    (re.compile(r"deeplab(?:v3)?mobilenet(?:v3)?(?:large)?"), "mobilenetv3"),
    (re.compile(r"lraspp(?:mobilenet(?:v3)?(?:large)?)?"), "lraspp"),
    (re.compile(r"fcnresnet(50|101)(?!\d)"), "fcn{}"),
)


def compact(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def name_parts(name: str) -> list[str]:
    """A run name's parts: split at ``_``, spaces and ``/``; ``-`` dropped; lower case."""
    return [part.lower().replace("-", "") for part in re.split(r"[_\s/]+", name) if part]


def compound_arch(text: str) -> str | bool | None:
    """The key of the one compound model name in ``text``; None if none; False if several."""
    found = set()
    for pattern, key in COMPOUNDS:
        for match in pattern.finditer(compact(text)):
            found.add(key.format(*match.groups()))
    if len(found) > 1:
        return False
    return found.pop() if found else None


def arch_from_name(name: str) -> str | None:
    """The architecture a run name states clearly: one compound model name, else one name
    part that is a known architecture; None otherwise."""
    compound = compound_arch(name)
    if compound is not None:
        return compound or None
    archs = {part for part in name_parts(name) if ARCH_PATTERN.fullmatch(part)}
    return archs.pop() if len(archs) == 1 else None


def arch_from_value(value: str) -> str | None:
    """The architecture key of a param value naming a model (``DeepLabV3ResNet101``,
    ``resnet-50``, ``UNet``); None when it is no known model name."""
    compound = compound_arch(value)
    if compound is not None:
        return compound or None
    text = compact(value)
    return text if ARCH_PATTERN.fullmatch(text) else None
