"""Install tiers: ``pip install reusebench`` is the core; the heavy frameworks are extras.

The core (curve tables, metrics and fits, ``ingest``, the NAS-Bench-101 reader, ``recommend``,
model cards and the scorecard) imports none of the extras. Code that needs one imports it
through :func:`require`, so a missing extra stops with one sentence naming it instead of a
``ModuleNotFoundError`` deep in a traceback.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from reusebench.core.errors import InputError

# extra -> (what needs it, the top-level modules its packages provide)
EXTRAS: dict[str, tuple[str, tuple[str, ...]]] = {
    "seg": ("Study A segmentation training and the mini NAS-Bench-101",
            ("torch", "torchvision", "segmentation_models_pytorch", "pynvml", "tifffile")),
    "tradeoff": ("Study B (Keras trade-offs)",
                 ("tensorflow", "tf_keras", "tensorflow_model_optimization", "adjustText")),
    "keras": ("the Keras callback of the curve logger", ("keras",)),
    "lightning": ("the Lightning callback of the curve logger",
                  ("lightning", "pytorch_lightning")),
    "forecast": ("the LC-PFN forecast predictor", ("torch",)),
    "workflow": ("the Snakemake workflow",
                 ("snakemake", "snakemake_executor_plugin_slurm", "jsonschema", "plotly",
                  "psutil")),
}


def missing_extra_message(extra: str, module: str) -> str:
    """The one sentence for a module of ``extra`` that is not installed."""
    purpose, _ = EXTRAS[extra]
    return (f"{module} is not installed; it comes with the [{extra}] extra for {purpose}: "
            f"pip install 'reusebench[{extra}]'.")


def require(extra: str, module: str) -> ModuleType:
    """Import ``module`` and return it; InputError naming ``extra`` when one of its packages is
    missing.

    ``module`` is either a package of the extra (``require("seg", "torch")``) or a reusebench
    module that imports them (``require("seg", "reusebench.training.seg.train")``). An import that
    fails for any other reason (a broken install, a core package missing) propagates as is.
    """
    if extra not in EXTRAS:
        raise ValueError(f"unknown extra {extra!r}; known: {sorted(EXTRAS)}")
    try:
        return importlib.import_module(module)
    except ImportError as error:
        missing = (error.name or "").partition(".")[0]
        if isinstance(error, ModuleNotFoundError) and missing in EXTRAS[extra][1]:
            raise InputError(missing_extra_message(extra, missing)) from error
        raise
