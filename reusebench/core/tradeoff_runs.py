"""What a Study B run is: names of models, techniques, splits and datasets, and the run grid.

Pure Python (no TensorFlow), so that the workflow can expand and check the config.

Technique grammar (the ``{technique}`` wildcard and the curve table's ``init`` key):

- ``base``: the pretrained backbone with a new head, every layer trained.
- ``top{N}``: only the top N weight-bearing layers are trained; the new dense head counts
  as the first, so ``top1`` is the head alone and ``top10`` the head and the last nine
  weight-bearing backbone layers (paper Sec. 3.3). A weight-bearing layer is one with a
  kernel (Conv2D, DepthwiseConv2D, Dense); every other layer is frozen, and frozen
  BatchNormalization layers run in inference mode (moving statistics fixed).
- ``fp16``: trained under the ``mixed_float16`` policy, saved with float16 weights.
- ``cluster{K}``: weights clustered to K centroids per kernel before training, stripped
  before saving.
- ``m2m``: the top layers of a trained donor model (ResNet101 for ResNet50) copied into
  the model wherever names and shapes match, then retrained.
- ``fp16``, ``cluster{K}`` and ``m2m`` take an optional unfreezing suffix, e.g.
  ``cluster512-top1``; without one, every layer is trained as in ``base``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from reusebench.core.errors import InputError

# The paper's five models, and EfficientNetB1: the deeper successor of B0 (same top-layer
# names and shapes), the offline default's m2m donor of B0, as ResNet101 is of ResNet50.
ARCHS = ("resnet50", "resnet101", "vgg16", "vgg19", "efficientnetb0", "efficientnetb1")
SYNTHETIC_CLASSES = {"synth10": 10, "synth100": 100}
CIFAR_NAMES = ("cifar10", "cifar100")
WEIGHTS = ("synthetic", "imagenet", "none")
METHODS = ("base", "fp16", "cluster", "m2m")
OWN_SPLIT = "own"

_TECHNIQUE = re.compile(r"^(?P<method>base|fp16|m2m|cluster(?P<k>-?\d+))(?:-top(?P<top>\d+))?$"
                        r"|^top(?P<only_top>\d+)$")
_SPLIT = re.compile(r"^(?P<train>\d{1,2})-(?P<test>\d{1,2})$")


@dataclass(frozen=True)
class Technique:
    """A parsed technique name; ``top`` is None when every layer is trained."""

    name: str
    method: str
    clusters: int | None = None
    top: int | None = None


def parse_technique(name: str) -> Technique:
    """Parse a technique name (grammar in the module docstring); bad names → InputError."""
    match = _TECHNIQUE.match(name)
    if match is None:
        raise InputError(f"unknown technique {name!r}; use base, top{{N}}, fp16, "
                         "cluster{K} or m2m, the last three optionally with -top{N}.")
    if match["only_top"] is not None:
        return Technique(name, "base", None, _positive(match["only_top"], name, "N"))
    method, top = match["method"], match["top"]
    if method == "base" and top is not None:
        raise InputError(f"technique {name!r} is written top{top}.")
    clusters = None
    if match["k"] is not None:
        method, clusters = "cluster", _positive(match["k"], name, "K (number of clusters)")
    return Technique(name, method, clusters, None if top is None else _positive(top, name, "N"))


def _positive(text: str, name: str, what: str) -> int:
    value = int(text)
    if value <= 0:
        raise InputError(f"technique {name!r} has {what} = {value}, which must be at least 1.")
    return value


def parse_split(split: str) -> float | None:
    """Train fraction of a split such as ``70-30`` (0.7); None for the dataset's own split."""
    if split == OWN_SPLIT:
        return None
    match = _SPLIT.match(split)
    if match is None or int(match["train"]) + int(match["test"]) != 100 \
            or min(int(match["train"]), int(match["test"])) == 0:
        raise InputError(f"split {split!r} must be 'own' or two positive percentages that sum "
                         "to 100, such as '70-30'.")
    return int(match["train"]) / 100


def curve_dataset(dataset: str, split: str) -> str:
    """The curve table's dataset key: the name, plus the split when it is not the own one."""
    return dataset if split == OWN_SPLIT else f"{dataset}-{split}"


@dataclass(frozen=True, order=True)
class Run:
    """One training run of Study B (the train rule's wildcards)."""

    dataset: str
    split: str
    arch: str
    technique: str
    device: str

    @property
    def wildcards(self) -> dict[str, str]:
        return {"dataset": self.dataset, "split": self.split, "arch": self.arch,
                "technique": self.technique, "device": self.device}


def dataset_names(section: Mapping) -> tuple[str, ...]:
    """Every dataset name the config can refer to."""
    return (*SYNTHETIC_CLASSES, *CIFAR_NAMES, *section.get("files", {}))


def expand_runs(section: Mapping) -> list[Run]:
    """The runs of ``study_b.runs`` (a list of grids) plus the m2m donors they need.

    Raises InputError naming the config key of the first bad value.
    """
    runs: set[Run] = set()
    known = dataset_names(section)
    for index, grid in enumerate(section.get("runs", [])):
        key = f"study_b.runs.{index}"
        _check_values(grid.get("datasets", []), known, f"{key}.datasets", "dataset")
        _check_values(grid.get("archs", []), ARCHS, f"{key}.archs", "model")
        for position, split in enumerate(grid.get("splits", [OWN_SPLIT])):
            _checked(parse_split, split, f"{key}.splits.{position}")
        for position, technique in enumerate(grid.get("techniques", [])):
            parsed = _checked(parse_technique, technique, f"{key}.techniques.{position}")
            if parsed.method == "m2m":
                _check_donors(grid.get("archs", []), section, f"{key}.techniques.{position}")
        runs.update(Run(*values) for values in _product(grid))
    donors = {donor_run(run, section) for run in runs
              if parse_technique(run.technique).method == "m2m"}
    _check_pretrain_source(section, runs | donors, known)
    seeds_of(section)
    for run in runs:
        run_epochs(section, run)
    return sorted(runs | donors)


def run_epochs(section: Mapping, run: Run) -> int | None:
    """Training epochs of a run: its grid's ``epochs``, else ``study_b.epochs``.

    Raises InputError when two grids that hold the run give it different epochs.
    """
    found = {grid["epochs"] for grid in section.get("runs", [])
             if "epochs" in grid and run in set(Run(*values) for values in _product(grid))}
    if len(found) > 1:
        raise InputError(f"run {run.dataset}/{run.split}/{run.arch}/{run.technique} is given "
                         f"different epochs by two study_b.runs grids: {sorted(found)}.")
    return found.pop() if found else section.get("epochs")


def seeds_of(section: Mapping) -> list[int]:
    """``study_b.seeds`` (default [0]); InputError unless distinct, non-negative integers."""
    seeds = list(section.get("seeds", [0]))
    if not seeds or len(set(seeds)) != len(seeds) \
            or any(not isinstance(seed, int) or seed < 0 for seed in seeds):
        raise InputError(f"study_b.seeds must be a non-empty list of distinct non-negative "
                         f"integers, got {seeds}.")
    return seeds


def donor_run(run: Run, section: Mapping) -> Run:
    """The run whose trained model an m2m run copies layers from."""
    m2m = section["m2m"]
    return Run(run.dataset, run.split, m2m["donors"][run.arch], m2m["donor_technique"],
               run.device)


def _product(grid: Mapping) -> Iterable[tuple[str, str, str, str, str]]:
    for dataset in grid.get("datasets", []):
        for split in grid.get("splits", [OWN_SPLIT]):
            for arch in grid.get("archs", []):
                for technique in grid.get("techniques", []):
                    for device in grid.get("devices", ["cpu"]):
                        yield dataset, split, arch, technique, device


def _check_values(values: Iterable[str], allowed: Iterable[str], key: str, what: str) -> None:
    allowed = tuple(allowed)
    for position, value in enumerate(values):
        if value not in allowed:
            raise InputError(f"{key}.{position}: unknown {what} {value!r}; known: "
                             f"{', '.join(allowed)}.")


def _checked(parse, value: str, key: str):
    try:
        return parse(value)
    except InputError as error:
        raise InputError(f"{key}: {error}") from None


def _check_pretrain_source(section: Mapping, runs: set[Run], known: tuple[str, ...]) -> None:
    """A backbone pretrained on a data set's training split has seen those images: its runs
    must test on that set's own test split (a ratio split would re-split the pool)."""
    source = section.get("pretrain", {}).get("source", "synthetic")
    if source == "synthetic":
        return
    if source not in known:
        raise InputError(f"study_b.pretrain.source: unknown dataset {source!r}; known: "
                         f"synthetic, {', '.join(known)}.")
    for run in sorted(runs):
        if run.dataset == source and run.split != OWN_SPLIT:
            raise InputError(f"study_b.pretrain.source is {source!r}, so its runs must use "
                             f"split {OWN_SPLIT!r}: split {run.split!r} would test on images "
                             "the backbone was pretrained on.")


def _check_donors(archs: Iterable[str], section: Mapping, key: str) -> None:
    m2m = section["m2m"]
    for arch in archs:
        donor = m2m["donors"].get(arch)
        if donor is None:
            raise InputError(f"{key}: m2m needs a donor model for {arch!r} under "
                             "study_b.m2m.donors.")
        if donor not in ARCHS or donor == arch:
            raise InputError(f"study_b.m2m.donors.{arch}: the donor {donor!r} must be another "
                             f"known model ({', '.join(ARCHS)}).")
    donor_method = _checked(parse_technique, m2m["donor_technique"],
                            "study_b.m2m.donor_technique").method
    if donor_method != "base":
        raise InputError("study_b.m2m.donor_technique: the donor is trained with base or "
                         f"top{{N}}, not {m2m['donor_technique']!r}.")
