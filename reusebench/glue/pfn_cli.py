"""``reusebench forecast-pfn-train``: train the PFN forecaster's weights on the prior."""

from __future__ import annotations

import argparse
from pathlib import Path

from reusebench.core.errors import InputError
from reusebench.core.io import check_output
from reusebench.training.pfn import DEFAULT_SIZE, SIZES


def add_parsers(commands: argparse._SubParsersAction) -> None:
    """Register ``forecast-pfn-train``."""
    train = commands.add_parser(
        "forecast-pfn-train", help="train the weights of the PFN forecaster on the prior",
        description="Train a small prior-data fitted network (LC-PFN style) on loss curves "
                    "drawn from the seven learning-curve families with random parameters "
                    "and noise, and write its weights with their provenance (prior, sizes, "
                    "steps, seed, final training loss, torch version, SHA-256). The small "
                    "size takes minutes on two CPU cores; the large one is meant for a GPU. "
                    "Needs the [forecast] extra. Bad input exits with status 2 and writes "
                    "nothing.")
    train.add_argument("-o", "--out", required=True, metavar="WEIGHTS",
                       help="the checkpoint to write (.pt)")
    train.add_argument("--steps", type=int, metavar="N",
                       help="training steps (default: " + ", ".join(
                           f"{int(values['steps'])} for {name}"
                           for name, values in SIZES.items()) + ")")
    train.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    train.add_argument("--device", default="cpu", metavar="DEVICE",
                       help="cpu or cuda (default: cpu)")
    train.add_argument("--size", default=DEFAULT_SIZE, metavar="SIZE",
                       help=f"model size: {' or '.join(SIZES)} (default: %(default)s)")
    train.set_defaults(handler=_run_train)


def _check(args: argparse.Namespace) -> None:
    if Path(args.out).suffix != ".pt":
        raise InputError(f"{args.out}: the weights file must end in .pt.")
    if args.steps is not None and args.steps < 1:
        raise InputError(f"--steps must be at least 1, not {args.steps}.")
    if args.device not in ("cpu", "cuda") and not args.device.startswith("cuda:"):
        raise InputError(f"--device must be cpu or cuda, not {args.device!r}.")
    if args.size not in SIZES:
        raise InputError(f"--size must be {' or '.join(SIZES)}, not {args.size!r}.")
    check_output(args.out)


def _run_train(args: argparse.Namespace) -> int:
    from reusebench.core.extras import require

    _check(args)
    train = require("forecast", "reusebench.training.pfn.train")
    if args.device != "cpu" and not train.cuda_available():
        raise InputError(f"--device {args.device} was asked for, but torch sees no CUDA GPU.")
    predict = require("forecast", "reusebench.training.pfn.predict")
    state, provenance = train.train_pfn(
        args.steps, args.seed, args.device, size=args.size,
        progress=lambda step, loss: print(f"step {step}: loss {loss:.4f}", flush=True))
    predict.save_weights(args.out, state, provenance)
    print(f"PFN ({args.size}, {provenance['parameters']} parameters, {provenance['steps']} "
          f"steps, {provenance['seconds']:.0f} s, final loss {provenance['final_loss']:.4f}) "
          f"sha256 {provenance['sha256'][:12]} -> {args.out}")
    return 0
