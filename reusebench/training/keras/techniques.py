"""The techniques of Study B: clustering, float16 quantization and model-to-model transfer.

Unfreezing lives in :func:`reusebench.training.keras.models.set_trainable_top`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tensorflow_model_optimization.python.core.clustering.keras.cluster_wrapper import (
    ClusterWeights,
)

from reusebench.core.errors import InputError
from reusebench.core.tradeoff_runs import Technique
from reusebench.training.keras.backend import dtype_policy, keras, tfmot
from reusebench.training.keras.models import (
    HEAD,
    build_classifier,
    head_norm_of,
    inner_layer,
    weight_bearing_layers,
)

CENTROID_INITS = {
    "linear": "LINEAR",
    "kmeans_plus_plus": "KMEANS_PLUS_PLUS",
    "density_based": "DENSITY_BASED",
    "random": "RANDOM",
}
MIXED_POLICY = "mixed_float16"


@dataclass
class Prepared:
    """A model ready to compile, with what its technique did before training."""

    model: keras.Model
    prep_seconds: float = 0.0
    moved_layers: list[str] = field(default_factory=list)
    clustered_layers: list[str] = field(default_factory=list)
    stripped: keras.Model | None = None  # cluster{K}-top{N}: the clustered frozen layers


def cluster_model(model: keras.Model, clusters: int, init: str = "linear") -> keras.Model:
    """Wrap a model for weight clustering with ``clusters`` centroids per kernel.

    tfmot reuses (and so changes) the layers of ``model``: pass a freshly built one and
    use only the returned model afterwards. Conv2D kernels with fewer values than
    ``clusters`` stay unclustered (tfmot's rule).
    """
    if clusters < 1:
        raise InputError(f"the number of clusters must be at least 1, got {clusters}.")
    if init not in CENTROID_INITS:
        raise InputError(f"unknown centroid initialization {init!r}; known: "
                         f"{', '.join(CENTROID_INITS)}.")
    centroid_init = getattr(tfmot.clustering.keras.CentroidInitialization, CENTROID_INITS[init])
    clustered = tfmot.clustering.keras.cluster_weights(
        model, number_of_clusters=clusters, cluster_centroids_init=centroid_init)
    if clustered is None:  # Keras 3 instead of tf-keras: tfmot fails silently
        raise RuntimeError("tensorflow-model-optimization returned no model; TensorFlow must "
                           "run with TF_USE_LEGACY_KERAS=1 (tf-keras).")
    return clustered


def strip_clusters(model: keras.Model) -> keras.Model:
    """The plain model with the clustered weights (wrappers removed)."""
    return tfmot.clustering.keras.strip_clustering(model)


def is_clustered_layer(layer: keras.layers.Layer) -> bool:
    return isinstance(layer, ClusterWeights)


def cluster_for_training(model: keras.Model, clusters: int, init: str,
                         top: int | None) -> tuple[keras.Model, list[str]]:
    """Cluster every kernel of a fresh model; return the model to train and the layer names.

    tfmot's wrapper re-assigns every weight to its nearest centroid at each call, which
    costs as much as the layer itself. When only the top ``top`` weight-bearing layers are
    trained, the others are frozen at their clustered values (wrappers stripped) and only
    the trained ones keep a wrapper, so that they stay clustered while they learn.
    """
    trained, names, _ = clustered_parts(model, clusters, init, top)
    return trained, names


def clustered_parts(model: keras.Model, clusters: int, init: str,
                    top: int | None) -> tuple[keras.Model, list[str], keras.Model | None]:
    """:func:`cluster_for_training`'s model and names, and the stripped clustered model its
    unwrapped layers come from (None when every layer trains)."""
    clustered = cluster_model(model, clusters, init)
    names = [inner_layer(layer).name for layer in clustered.layers
             if is_clustered_layer(layer) and hasattr(inner_layer(layer), "kernel")]
    if top is None:
        return clustered, names, None
    stripped = strip_clusters(clustered)
    return wrap_trained(stripped, clusters, init, top, names), names, stripped


def wrap_trained(stripped: keras.Model, clusters: int, init: str, top: int,
                 names: list[str], new_head: bool = False) -> keras.Model:
    """A model whose top ``top`` weight-bearing layers (of the clustered ``names``) get a
    fresh clustering wrapper; every other layer is shared with ``stripped`` as it is.

    ``new_head``: the head is a new layer of the same config (freshly initialized under the
    current random seed) before it is wrapped.
    """
    trained = {layer.name for layer in weight_bearing_layers(stripped)[-top:]} & set(names)
    centroid_init = getattr(tfmot.clustering.keras.CentroidInitialization, CENTROID_INITS[init])

    def rewrap(layer: keras.layers.Layer) -> keras.layers.Layer:
        if isinstance(layer, keras.layers.InputLayer) or (new_head and layer.name == HEAD):
            layer = layer.__class__.from_config(layer.get_config())
        if isinstance(layer, keras.layers.InputLayer):
            return layer
        if layer.name in trained:
            return tfmot.clustering.keras.cluster_weights(
                layer, number_of_clusters=clusters, cluster_centroids_init=centroid_init)
        return layer

    return keras.models.clone_model(stripped, clone_function=rewrap)


def transfer_top_layers(donor: keras.Model, model: keras.Model, top_layers: int) -> list[str]:
    """Copy the donor's weights into the top of ``model`` where names and shapes match.

    The top of ``model`` is every layer from its ``top_layers``-th weight-bearing layer
    (counted from the output) to the output, BatchNormalization layers included. A layer
    moves when the donor has a layer of the same name whose weights have the same shapes
    (ResNet50 and ResNet101 share the names of their last stage and of the head). Returns
    the names of the layers that moved, in model order.
    """
    weighted = weight_bearing_layers(model)
    if not 1 <= top_layers <= len(weighted):
        raise InputError(f"m2m top_layers must lie in 1..{len(weighted)} for {model.name}, "
                         f"got {top_layers}.")
    start = model.layers.index(weighted[-top_layers])
    donor_layers = {layer.name: layer for layer in donor.layers}
    moved = []
    for layer in model.layers[start:]:
        source = donor_layers.get(layer.name)
        if source is None or not layer.weights:
            continue
        values = source.get_weights()
        if [value.shape for value in values] == [tuple(w.shape) for w in layer.weights]:
            layer.set_weights(values)
            moved.append(layer.name)
    return moved


def prepare(technique: Technique, arch: str, n_classes: int, image_shape: tuple[int, int, int],
            weights: str | Path | None, donor_path: str | Path | None = None,
            cluster_init: str = "linear", m2m_top_layers: int = 10,
            head_norm: str = "none") -> Prepared:
    """Build the model of a technique (before unfreezing and compiling).

    ``prep_seconds`` is the preparation the paper counts separately: the clustering time for
    ``cluster{K}``, loading the donor and copying its layers for ``m2m``, else 0.
    """
    if technique.method == "fp16":
        with dtype_policy(MIXED_POLICY):
            return Prepared(build_classifier(arch, n_classes, image_shape, weights,
                                             head_dtype="float32", head_norm=head_norm))
    model = build_classifier(arch, n_classes, image_shape, weights, head_norm=head_norm)
    if technique.method == "cluster":
        began = time.perf_counter()
        clustered, names, stripped = clustered_parts(model, technique.clusters, cluster_init,
                                                     technique.top)
        return Prepared(clustered, time.perf_counter() - began, clustered_layers=names,
                        stripped=stripped)
    if technique.method == "m2m":
        if donor_path is None:
            raise InputError("technique m2m needs the trained donor model file.")
        began = time.perf_counter()
        donor = keras.models.load_model(donor_path, compile=False)
        moved = transfer_top_layers(donor, model, m2m_top_layers)
        return Prepared(model, time.perf_counter() - began, moved)
    return Prepared(model)


def float16_copy(model: keras.Model, arch: str, image_shape: tuple[int, int, int]) -> keras.Model:
    """The same classifier with float16 variables: what the fp16 technique saves (≈ half)."""
    n_classes = int(model.output_shape[-1])
    with dtype_policy("float16"):
        copy = build_classifier(arch, n_classes, image_shape, None,
                                head_norm=head_norm_of(model))
    copy.set_weights([np.asarray(value, dtype=np.float16) for value in model.get_weights()])
    return copy


def float32_copy(model: keras.Model, arch: str, image_shape: tuple[int, int, int]) -> keras.Model:
    """The same classifier with float32 variables (e.g. of a mixed-precision model)."""
    n_classes = int(model.output_shape[-1])
    copy = build_classifier(arch, n_classes, image_shape, None, head_norm=head_norm_of(model))
    copy.set_weights([np.asarray(value, dtype=np.float32) for value in model.get_weights()])
    return copy
