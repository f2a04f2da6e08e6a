"""Run keys (study, dataset, arch, init, lr, seed, device) for ingested runs.

Each key comes from, in this order: the command's option; what the log itself states (the
Study A authors' Model / Pretrained / LR columns, ``lr`` or ``learning_rate`` in a
Lightning ``hparams.yaml``); the run's name (folder or file stem), only where it is clear:

- arch: the one name part (split at ``_``, spaces and ``/``; ``-`` dropped; case ignored)
  that is a known architecture name (ARCH_PATTERN), e.g. ``UNet_lr1e_3`` → ``unet``;
- lr: one ``lr`` part: ``lr1e_3`` / ``lr1e-3`` → 0.001, ``lr0.01``, ``lr=3e-4``, ``lr_2e_4``
  (``e_`` is read as ``e-``); two different ones are not clear;
- seed: one ``seed`` part, e.g. ``seed3``;
- init: one part naming an initialisation (random, scratch → random; pretrained; imagenet;
  coco); else the whole run name, which keeps runs apart that differ in what no key holds
  (optimizer, batch size, dropout, …);

and otherwise a placeholder: study ``X`` (outside logs), dataset ``unknown``, arch
``unknown``, lr 0 (not known; a real run never has lr 0), seed 0, device ``unknown``.
Data-pair metrics (G_init, D_init(data)) need an init named ``random`` and its partner
with all other keys equal, so name the keys with options where that is what you want.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path

import pandas as pd

from reusebench.curves import make_run_id
from reusebench.errors import InputError

STUDY = "X"
UNKNOWN = "unknown"
LR_NOT_KNOWN = 0.0
ARCH_PATTERN = re.compile(
    r"unet(plusplus)?|fpn|linknet|pspnet|pan|manet|deeplab(v3(plus)?)?\d*|fcn\d*|lraspp"
    r"|mobilenet(v\d(small|large)?)?|resnet\d+|resnext\d+\w*|wideresnet\d+\w*|vgg\d+(bn)?"
    r"|efficientnet(b\d|v2\w*)?|densenet\d+|inception(v\d|resnetv\d)?|xception|alexnet"
    r"|lenet\d*|convnext(tiny|small|base|large)?|vit[bhl]?\d*|swin[tsbl]?\d*"
    r"|segformer(b\d)?|regnet[xy]\w*|squeezenet[\d.]*")
INIT_WORDS = {"random": "random", "scratch": "random", "pretrained": "pretrained",
              "imagenet": "imagenet", "coco": "coco"}
_LR = re.compile(r"(?:^|[_\s/-])lr[=_]?(\d+(?:\.\d+)?(?:e[-_+]?\d+)?)(?=$|[_\s/-])",
                 re.IGNORECASE)
_SEED = re.compile(r"(?:^|[_\s/-])seed[=_]?(\d+)(?=$|[_\s/-])", re.IGNORECASE)


@dataclass(frozen=True)
class KeyOptions:
    """Run keys given on the command line; None = not given."""

    study: str | None = None
    dataset: str | None = None
    arch: str | None = None
    init: str | None = None
    lr: float | None = None
    seed: int | None = None
    device: str | None = None


def name_parts(name: str) -> list[str]:
    return [part.lower().replace("-", "") for part in re.split(r"[_\s/]+", name) if part]


def keys_from_name(name: str) -> dict[str, object]:
    """The run keys a run name states clearly (see the module docstring)."""
    parts = name_parts(name)
    keys: dict[str, object] = {}
    archs = {part for part in parts if ARCH_PATTERN.fullmatch(part)}
    if len(archs) == 1:
        keys["arch"] = archs.pop()
    lrs = {float(text.lower().replace("e_", "e-")) for text in _LR.findall(name)}
    if len(lrs) == 1:
        keys["lr"] = lrs.pop()
    seeds = {int(text) for text in _SEED.findall(name)}
    if len(seeds) == 1:
        keys["seed"] = seeds.pop()
    inits = {INIT_WORDS[part] for part in parts if part in INIT_WORDS}
    keys["init"] = inits.pop() if len(inits) == 1 else name
    return keys


def run_keys(name: str, stated: dict[str, object], options: KeyOptions) -> dict[str, object]:
    """All seven keys of one run: options over stated keys over the name over placeholders."""
    keys: dict[str, object] = {"study": STUDY, "dataset": UNKNOWN, "arch": UNKNOWN,
                               "lr": LR_NOT_KNOWN, "seed": 0, "device": UNKNOWN}
    keys.update(keys_from_name(name))
    keys.update(stated)
    keys.update({item.name: getattr(options, item.name) for item in fields(options)
                 if getattr(options, item.name) is not None})
    return keys


def check_distinct(keys: Sequence[dict[str, object]], sources: Sequence[Path]) -> pd.Series:
    """The run_id of each run; InputError when two runs get the same keys."""
    run_ids = make_run_id(pd.DataFrame(list(keys)))
    duplicated = run_ids.duplicated(keep=False)
    if duplicated.any():
        first, second = duplicated.to_numpy().nonzero()[0][:2]
        raise InputError(f"{sources[first]} and {sources[second]} get the same run keys "
                         f"({run_ids.iloc[first]}); set the keys that tell them apart with "
                         "--init/--lr/--seed/... and ingest them one at a time.")
    return run_ids
