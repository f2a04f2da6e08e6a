"""Run keys (study, dataset, arch, init, lr, seed, device) for ingested runs.

Each key comes from, in this order: the command's option; what the log itself states (the
Study A authors' Model / Pretrained / LR columns, ``lr`` or ``learning_rate`` in a
Lightning ``hparams.yaml``, a tracker's params / config: ``keys_from_params``); the run's
name (folder or file stem), only where it is clear:

- arch: one compound model name (``DeepLabV3ResNet101`` → ``deeplab101``,
  ``fcn_resnet50`` → ``fcn50``: ``archnames``), else the one name part (split at ``_``,
  spaces and ``/``; ``-`` dropped; case ignored) that is a known architecture name
  (ARCH_PATTERN), e.g. ``UNet_lr1e_3`` → ``unet``;
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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path

import pandas as pd

from reusebench.core.curves import make_run_id
from reusebench.core.errors import InputError
from reusebench.data.ingest.archnames import (  # noqa: F401 (ARCH_PATTERN: the public name)
    ARCH_PATTERN,
    arch_from_name,
    arch_from_value,
    name_parts,
)

STUDY = "X"
UNKNOWN = "unknown"
LR_NOT_KNOWN = 0.0
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


def keys_from_name(name: str) -> dict[str, object]:
    """The run keys a run name states clearly (see the module docstring)."""
    parts = name_parts(name)
    keys: dict[str, object] = {}
    arch = arch_from_name(name)
    if arch is not None:
        keys["arch"] = arch
    lrs = {float(text.lower().replace("e_", "e-")) for text in _LR.findall(name)}
    if len(lrs) == 1:
        keys["lr"] = lrs.pop()
    seeds = {int(text) for text in _SEED.findall(name)}
    if len(seeds) == 1:
        keys["seed"] = seeds.pop()
    inits = {INIT_WORDS[part] for part in parts if part in INIT_WORDS}
    keys["init"] = inits.pop() if len(inits) == 1 else name
    return keys


# Param names (case ignored; a dotted or slashed name is also matched by its last part)
# that state a run key; names listed first win.
PARAM_KEYS = {
    "lr": ("lr", "learning_rate", "learningrate", "learning-rate", "base_lr", "initial_lr",
           "init_lr", "lr0"),
    "seed": ("seed", "random_seed", "manual_seed", "rng_seed"),
    "arch": ("arch", "architecture", "model", "model_name", "model_type", "network", "net"),
    "init": ("init", "initialization", "initialisation", "pretrained", "weights",
             "init_weights", "pretrain"),
    "dataset": ("dataset", "dataset_name", "data"),
    "device": ("device",),
}
_TRUE, _FALSE = {"true", "yes", "1"}, {"false", "no", "0", "none", "null"}


def keys_from_params(params: Mapping[str, object]) -> dict[str, object]:
    """The run keys a tracker's params state (values as logged: text or numbers)."""
    by_name: dict[str, list[object]] = {}
    for name, value in params.items():
        lowered = name.lower()
        for candidate in dict.fromkeys((lowered, re.split(r"[./]", lowered)[-1])):
            by_name.setdefault(candidate, []).append(value)
    keys: dict[str, object] = {}
    for key, names in PARAM_KEYS.items():
        for name in names:
            values = {_key_value(key, value) for value in by_name.get(name, [])} - {None}
            if len(values) == 1:
                keys[key] = values.pop()
                break
    return keys


def _key_value(key: str, value: object) -> object | None:
    """A param value as the run key ``key``; None when it does not make one."""
    if isinstance(value, Mapping | list | tuple) or value is None:
        return None
    if key == "lr":
        number = _number(value)
        return number if number is not None and 0 < number < float("inf") else None
    if key == "seed":
        number = _number(value)
        return int(number) if number is not None and number == int(number) else None
    if key == "init":
        return _init_value(value)
    text = str(value).strip()
    if key == "arch":
        return arch_from_value(text) or text or None
    return text or None


def _number(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if number == number and abs(number) != float("inf") else None


def _init_value(value: object) -> str | None:
    """pretrained / random / imagenet / coco, or the stated text."""
    text = str(value).strip().lower()
    if isinstance(value, bool) or text in _TRUE | _FALSE:
        return "pretrained" if (value is True or text in _TRUE) else "random"
    for word in ("imagenet", "coco"):
        if word in text:
            return word
    return INIT_WORDS.get(text, str(value).strip() or None)


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
