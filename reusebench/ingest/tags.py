"""Which logged tags (or CSV columns) are the train loss, the test loss, the epoch counter,
the epoch time and the task metrics of a run.

Train/test loss, in this order (case-insensitive, exact):

1. ``--train-tag`` / ``--test-tag`` when given (one of them alone: the other by rule 3);
2. the first pair of DEFAULT_PAIRS present in the run;
3. the one tag holding the word "loss" and a train word (train, training) and the one tag
   holding "loss" and a test word (test, testing, val, valid, validation, eval, evaluation),
   words being the runs of letters and digits of the tag.

No match is an error that lists the tags found. The epoch tag is ``--epoch-tag``, else a
tag named ``epoch``. The epoch-time tag is the one tag named like ``epoch time`` /
``epoch_seconds`` (words "epoch" and one of time, seconds, secs, duration; no "loss").
Task metrics travel as extra curve columns where one tag clearly names them: ``iou``
(words iou or jaccard + a test word), ``test_accuracy`` / ``train_accuracy`` (accuracy or
acc + a test / train word); Keras' and the Study A authors' fixed column names are mapped
as they are documented.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from reusebench.errors import InputError
from reusebench.ingest.runlog import RunLog

DEFAULT_PAIRS = (
    ("loss", "val_loss"),                              # Keras History / CSVLogger
    ("train_loss_epoch", "val_loss"),                  # Lightning, on_step and on_epoch
    ("train_loss", "val_loss"),                        # Lightning
    ("train_loss", "test_loss"),                       # Study A authors, reusebench
    ("train/loss", "test/loss"),
    ("train/loss", "val/loss"),
    ("loss/train", "loss/test"),                       # PyTorch SummaryWriter tutorial
    ("loss/train", "loss/val"),
    ("train/epoch_loss", "validation/epoch_loss"),     # Keras TensorBoard callback
)
TRAIN_WORDS = frozenset({"train", "training"})
TEST_WORDS = frozenset({"test", "testing", "val", "valid", "validation", "eval",
                        "evaluation"})
TIME_WORDS = frozenset({"time", "seconds", "secs", "duration"})
EPOCH_TAG = "epoch"
# Documented fixed column names (Keras CSVLogger keys; the Study A authors' fieldnames).
FIXED_TASK_COLUMNS = {
    "keras-csv": {"accuracy": "train_accuracy", "acc": "train_accuracy",
                  "val_accuracy": "test_accuracy", "val_acc": "test_accuracy"},
    "authors-csv": {"per-pixel accuracy": "pixel_accuracy", "precision": "precision",
                    "recall": "recall", "f1-score": "f1", "jaccard": "iou"},
}


@dataclass(frozen=True)
class TagChoice:
    """The tags one run's curve is built from."""

    train: str
    test: str
    epoch: str | None = None
    time: str | None = None
    task: dict[str, str] = field(default_factory=dict)  # curve column -> tag


def words(tag: str) -> set[str]:
    return set(re.findall(r"[a-z0-9]+", tag.lower()))


def choose_tags(run: RunLog, train_tag: str | None = None, test_tag: str | None = None,
                epoch_tag: str | None = None) -> TagChoice:
    """The tag choice for a run; InputError naming the run's source when none fits."""
    train, test = _loss_tags(run, train_tag, test_tag)
    epoch = _epoch_tag(run, epoch_tag)
    used = {train, test, epoch}
    time = run.time_tag or _unique(run, lambda w: "epoch" in w and bool(w & TIME_WORDS)
                                   and "loss" not in w, used)
    return TagChoice(train, test, epoch, time, _task_tags(run, used | {time}))


def _find(run: RunLog, name: str) -> str | None:
    """The run's tag equal to ``name`` ignoring case (an exact match first)."""
    if name in run.series:
        return name
    matches = [tag for tag in run.series if tag.lower() == name.lower()]
    return matches[0] if len(matches) == 1 else None


def _listing(run: RunLog) -> str:
    return ", ".join(repr(tag) for tag in run.tags) or "none"


def _loss_tags(run: RunLog, train_tag: str | None, test_tag: str | None) -> tuple[str, str]:
    kind = "columns" if run.fmt.endswith("csv") else "tags"
    given = {"train": train_tag, "test": test_tag}
    found = {}
    for side, name in given.items():
        if name is not None:
            found[side] = _find(run, name)
            if found[side] is None:
                raise InputError(f"{run.source}: no {side} loss {kind[:-1]} {name!r} among "
                                 f"the {kind} found ({_listing(run)}).")
    if not found:
        for train_name, test_name in DEFAULT_PAIRS:
            pair = _find(run, train_name), _find(run, test_name)
            if None not in pair:
                return pair
    for side, side_words in (("train", TRAIN_WORDS), ("test", TEST_WORDS)):
        if side not in found:
            found[side] = _unique(run, lambda w, s=side_words: "loss" in w and bool(w & s)
                                  and not w & _other(s), set(found.values()))
    if None in found.values():
        raise InputError(f"{run.source}: no train and test loss {kind} recognised among the "
                         f"{kind} found ({_listing(run)}); name them with --train-tag and "
                         "--test-tag.")
    return found["train"], found["test"]


def _other(side_words: frozenset[str]) -> frozenset[str]:
    return TEST_WORDS if side_words is TRAIN_WORDS else TRAIN_WORDS


def _unique(run: RunLog, matches, used: set) -> str | None:
    """The one tag not in ``used`` whose words satisfy ``matches``; None if none or several."""
    hits = [tag for tag in run.series if tag not in used and matches(words(tag))]
    return hits[0] if len(hits) == 1 else None


def _epoch_tag(run: RunLog, epoch_tag: str | None) -> str | None:
    if epoch_tag is None:
        return run.epoch_tag or _find(run, EPOCH_TAG)
    found = _find(run, epoch_tag)
    if found is None:
        raise InputError(f"{run.source}: no epoch tag {epoch_tag!r} among the tags found "
                         f"({_listing(run)}).")
    return found


def _task_tags(run: RunLog, used: set) -> dict[str, str]:
    fixed = FIXED_TASK_COLUMNS.get(run.fmt)
    if fixed is not None:
        return {fixed[tag.lower()]: tag for tag in run.series
                if tag.lower() in fixed and tag not in used}
    rules = {
        "iou": lambda w: bool(w & {"iou", "jaccard"} and w & TEST_WORDS),
        "test_accuracy": lambda w: bool(w & {"accuracy", "acc"} and w & TEST_WORDS
                                        and not w & TRAIN_WORDS),
        "train_accuracy": lambda w: bool(w & {"accuracy", "acc"} and w & TRAIN_WORDS
                                         and not w & TEST_WORDS),
    }
    chosen = {column: _unique(run, rule, used) for column, rule in rules.items()}
    return {column: tag for column, tag in chosen.items() if tag is not None}
