"""Keras application backbones with a new classification head (paper Sec. 2.4 and 3.3).

A model is one flat functional graph: the backbone's layers (``include_top=False``), a
global average pooling and a new Dense softmax head named ``head`` with Keras' default
Glorot-uniform initializer, as in the paper. Flat (not nested), so that layer-wise
unfreezing, clustering and layer transfer see every layer.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from reusebench.core.errors import InputError
from reusebench.core.tradeoff_runs import ARCHS
from reusebench.training.keras.backend import keras

_APPLICATIONS = {
    "resnet50": ("ResNet50", "resnet50"),
    "resnet101": ("ResNet101", "resnet"),
    "vgg16": ("VGG16", "vgg16"),
    "vgg19": ("VGG19", "vgg19"),
    "efficientnetb0": ("EfficientNetB0", "efficientnet"),
    "efficientnetb1": ("EfficientNetB1", "efficientnet"),
}
HEAD = "head"
HEAD_NORMS = ("none", "l2")
KERNEL_ATTRIBUTES = ("kernel", "depthwise_kernel")


def check_arch(arch: str) -> str:
    if arch not in ARCHS:
        raise InputError(f"unknown model {arch!r}; known: {', '.join(ARCHS)}.")
    return arch


def build_backbone(arch: str, image_shape: tuple[int, int, int],
                   weights: str | Path | None) -> keras.Model:
    """The Keras application without its top; ``weights``: None, ``imagenet`` or a file.

    ImageNet weights come from the Keras cache (``~/.keras/models``); offline and not
    cached → InputError.
    """
    constructor = getattr(keras.applications, _APPLICATIONS[check_arch(arch)][0])
    weights = str(weights) if isinstance(weights, Path) else weights
    try:
        return constructor(include_top=False, weights=weights, input_shape=image_shape)
    except Exception as error:
        if weights == "imagenet" and "fetch failure" in str(error).lower():
            raise InputError(f"Keras ImageNet weights for {arch} are not in the Keras cache "
                             "(~/.keras/models) and cannot be downloaded (offline?): fetch "
                             "them on a connected machine with keras.applications."
                             f"{_APPLICATIONS[arch][0]}(include_top=False, weights='imagenet') "
                             "and copy ~/.keras/models here.") from None
        raise


def build_classifier(arch: str, n_classes: int, image_shape: tuple[int, int, int],
                     weights: str | Path | None = None, head_dtype: str | None = None,
                     head_norm: str = "none") -> keras.Model:
    """Backbone + global average pooling + a new Glorot-uniform softmax head.

    ``head_dtype="float32"`` keeps the softmax in float32 under a mixed-precision policy.
    ``head_norm="l2"`` puts a parameter-free L2 normalization of the pooled features, scaled
    to unit root-mean-square per feature, before the head (layers ``pool_norm`` and
    ``pool_scale``): the pooled features of a barely pretrained backbone are heavy-tailed,
    and a softmax head on them turns overconfident (README, Study B).
    """
    if n_classes < 2:
        raise InputError(f"a classifier needs at least 2 classes, got {n_classes}.")
    if head_norm not in HEAD_NORMS:
        raise InputError(f"study_b.head_norm must be one of {', '.join(HEAD_NORMS)}, "
                         f"got {head_norm!r}.")
    backbone = build_backbone(arch, image_shape, weights)
    features = keras.layers.GlobalAveragePooling2D(name="pool")(backbone.output)
    if head_norm == "l2":
        # float32 under any policy: the squares of features in the hundreds overflow float16
        features = keras.layers.UnitNormalization(name="pool_norm", dtype="float32")(features)
        scale = float(np.sqrt(features.shape[-1]))
        features = keras.layers.Rescaling(scale, name="pool_scale", dtype="float32")(features)
    head = keras.layers.Dense(n_classes, activation="softmax", name=HEAD,
                              kernel_initializer="glorot_uniform", dtype=head_dtype)
    return keras.Model(backbone.input, head(features), name=arch)


def head_norm_of(model: keras.Model) -> str:
    """The ``head_norm`` a classifier built here was built with."""
    return "l2" if any(layer.name == "pool_norm" for layer in model.layers) else "none"


def backbone_of(model: keras.Model) -> keras.Model:
    """The backbone part of a classifier built here (shares its layers and weights)."""
    return keras.Model(model.input, model.get_layer("pool").input, name=f"{model.name}_backbone")


def preprocess(arch: str, images: np.ndarray) -> np.ndarray:
    """uint8 images → the float32 input the application expects (its preprocess_input)."""
    module = getattr(keras.applications, _APPLICATIONS[check_arch(arch)][1])
    return module.preprocess_input(np.asarray(images, dtype=np.float32))


def inner_layer(layer: keras.layers.Layer) -> keras.layers.Layer:
    """The layer inside a wrapper (such as a clustering wrapper), else the layer itself."""
    return getattr(layer, "layer", layer)


def is_weight_bearing(layer: keras.layers.Layer) -> bool:
    """True for layers with a kernel: Conv2D, DepthwiseConv2D, Dense."""
    inner = inner_layer(layer)
    return any(getattr(inner, name, None) is not None for name in KERNEL_ATTRIBUTES)


def weight_bearing_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """Weight-bearing layers in the model's (topological) layer order."""
    return [layer for layer in model.layers if is_weight_bearing(layer)]


def set_trainable_top(model: keras.Model, top: int | None) -> int:
    """Train only the top ``top`` weight-bearing layers (None: every layer); return the count.

    Every other layer, BatchNormalization included, gets ``trainable = False``; Keras runs a
    frozen BatchNormalization layer in inference mode.
    """
    weighted = weight_bearing_layers(model)
    if top is None:
        for layer in model.layers:
            layer.trainable = True
        return len(weighted)
    if top > len(weighted):
        raise InputError(f"top{top} asks for {top} trainable layers but {model.name} has "
                         f"{len(weighted)} weight-bearing layers.")
    keep = {id(layer) for layer in weighted[-top:]}
    for layer in model.layers:
        layer.trainable = id(layer) in keep
    return top


def parameter_count(model: keras.Model) -> int:
    return int(model.count_params())
