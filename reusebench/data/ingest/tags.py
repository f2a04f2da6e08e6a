"""Which logged tags (or CSV columns) are the train loss, the test loss, the epoch counter,
the epoch time and the task metrics of a run.

Train/test loss, in this order (case-insensitive, exact):

1. ``--train-tag`` / ``--test-tag`` when given (one of them alone: the other by rule 3);
2. the first pair of DEFAULT_PAIRS present in the run;
3. the one tag holding the word "loss" and a train word (train, training) and the one tag
   holding "loss" and a test word (test, testing, val, valid, validation, eval, evaluation),
   words being the runs of letters and digits of the tag.

Without any tag holding the word "loss", accuracies stand in: the pair of
DEFAULT_ACCURACY_PAIRS present, else the one tag with accuracy/acc + a train word and the
one with accuracy/acc + a test word; the curve's losses are then 1 − accuracy (``kind``
"accuracy"). A run with a test-side tag only (the one loss tag is a test loss, or there is
no loss and the one accuracy tag is a test accuracy) has no train loss (``train`` None); so
has a tracker run holding one unnamed series (an Optuna trial's intermediate values,
``value_kind``). ``--train-tag`` / ``--test-tag`` naming an accuracy tag (words accuracy
or acc, no "loss") make the kind "accuracy".

No match is an error (NoMetricTags) that lists the tags found. The epoch tag is
``--epoch-tag``, else a tag named ``epoch``. The epoch-time tag is the one tag named like
``epoch time`` / ``epoch_seconds`` (words "epoch" and one of time, seconds, secs,
duration; no "loss").
Task metrics travel as extra curve columns where one tag clearly names them: ``iou``
(words iou or jaccard + a test word), ``test_accuracy`` / ``train_accuracy`` (accuracy or
acc + a test / train word); Keras' and the Study A authors' fixed column names are mapped
as they are documented.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from reusebench.core.errors import InputError
from reusebench.data.ingest.runlog import RunLog

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
DEFAULT_ACCURACY_PAIRS = (
    ("accuracy", "val_accuracy"),                      # Keras History / CSVLogger
    ("acc", "val_acc"),
)
TRAIN_WORDS = frozenset({"train", "training"})
ACCURACY_WORDS = frozenset({"accuracy", "acc"})
LOSS, ACCURACY = "loss", "accuracy"
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


class NoMetricTags(InputError):
    """No train/test loss or accuracy tag recognised (or a named one missing)."""


@dataclass(frozen=True)
class TagChoice:
    """The tags one run's curve is built from; ``train`` None = no train loss logged;
    ``kind`` "accuracy" = the two tags are accuracies (losses are 1 − accuracy)."""

    train: str | None
    test: str
    epoch: str | None = None
    time: str | None = None
    task: dict[str, str] = field(default_factory=dict)  # curve column -> tag
    kind: str = LOSS


def words(tag: str) -> set[str]:
    return set(re.findall(r"[a-z0-9]+", tag.lower()))


def choose_tags(run: RunLog, train_tag: str | None = None, test_tag: str | None = None,
                epoch_tag: str | None = None) -> TagChoice:
    """The tag choice for a run; InputError naming the run's source when none fits."""
    train, test, kind = _metric_tags(run, train_tag, test_tag)
    epoch = _epoch_tag(run, epoch_tag)
    used = {train, test, epoch}
    time = run.time_tag or _unique(run, lambda w: "epoch" in w and bool(w & TIME_WORDS)
                                   and "loss" not in w, used)
    return TagChoice(train, test, epoch, time, _task_tags(run, used | {time}), kind)


def _metric_tags(run: RunLog, train_tag: str | None,
                 test_tag: str | None) -> tuple[str | None, str, str]:
    """(train tag or None, test tag, kind) by the rules of the module docstring."""
    value_kind = getattr(run, "value_kind", None)
    if value_kind is not None and train_tag is None and test_tag is None:
        return None, next(iter(run.series)), value_kind
    if train_tag is not None or test_tag is not None:
        return _named_tags(run, train_tag, test_tag)
    train, test = _pair(run, LOSS)
    if train is not None and test is not None:
        return train, test, LOSS
    if not _tags_with(run, {"loss"}):
        train, test = _pair(run, ACCURACY)
        if test is not None and (train is not None or len(_tags_with(run, ACCURACY_WORDS)) == 1):
            return train, test, ACCURACY
    elif test is not None and len(_tags_with(run, {"loss"})) == 1:
        return None, test, LOSS
    raise _no_tags(run)


def _tags_with(run: RunLog, some_words: set[str] | frozenset[str]) -> list[str]:
    return [tag for tag in run.series if words(tag) & some_words]


def _kind_of(tag: str) -> str:
    tag_words = words(tag)
    return ACCURACY if tag_words & ACCURACY_WORDS and "loss" not in tag_words else LOSS


def _no_tags(run: RunLog) -> NoMetricTags:
    kind = "columns" if run.fmt.endswith("csv") else "tags"
    return NoMetricTags(f"{run.source}: no train and test loss {kind} recognised among the "
                        f"{kind} found ({_listing(run)}); name them with --train-tag and "
                        "--test-tag.")


def _find(run: RunLog, name: str) -> str | None:
    """The run's tag equal to ``name`` ignoring case (an exact match first)."""
    if name in run.series:
        return name
    matches = [tag for tag in run.series if tag.lower() == name.lower()]
    return matches[0] if len(matches) == 1 else None


def _listing(run: RunLog) -> str:
    return ", ".join(repr(tag) for tag in run.tags) or "none"


def _named_tags(run: RunLog, train_tag: str | None,
                test_tag: str | None) -> tuple[str | None, str, str]:
    """The tags named by --train-tag / --test-tag; the other side by the word rule of the
    named tag's kind (a missing train side: no train loss; a missing test side: error)."""
    kind_name = "columns" if run.fmt.endswith("csv") else "tags"
    found: dict[str, str | None] = {}
    for side, name in (("train", train_tag), ("test", test_tag)):
        if name is not None:
            found[side] = _find(run, name)
            if found[side] is None:
                raise NoMetricTags(f"{run.source}: no {side} loss {kind_name[:-1]} {name!r} "
                                   f"among the {kind_name} found ({_listing(run)}).")
    kind = _kind_of(next(tag for tag in found.values() if tag is not None))
    for side, side_words in (("train", TRAIN_WORDS), ("test", TEST_WORDS)):
        if side not in found:
            found[side] = _side_tag(run, kind, side_words, {tag for tag in found.values()})
    if found["test"] is None:
        raise _no_tags(run)
    return found["train"], found["test"], kind


def _pair(run: RunLog, kind: str) -> tuple[str | None, str | None]:
    """The train and test tag of ``kind`` (DEFAULT_PAIRS, else the word rule)."""
    for train_name, test_name in (DEFAULT_PAIRS if kind == LOSS else DEFAULT_ACCURACY_PAIRS):
        pair = _find(run, train_name), _find(run, test_name)
        if None not in pair:
            return pair
    train = _side_tag(run, kind, TRAIN_WORDS, set())
    return train, _side_tag(run, kind, TEST_WORDS, {train})


def _side_tag(run: RunLog, kind: str, side_words: frozenset[str], used: set) -> str | None:
    """The one tag of ``kind`` (loss: word "loss"; accuracy: accuracy/acc without "loss")
    with a word of ``side_words`` and none of the other side's."""
    def matches(w: set[str]) -> bool:
        of_kind = "loss" in w if kind == LOSS else bool(w & ACCURACY_WORDS) and "loss" not in w
        return of_kind and bool(w & side_words) and not w & _other(side_words)

    return _unique(run, matches, used)


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
