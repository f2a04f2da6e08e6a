"""The metric registry: every metric of both studies defined once, and read by every consumer.

A :class:`MetricDef` holds what a metric is: its column, symbol, equation, unit, which side
is better, label, one-sentence definition, the curves it needs, and whether it exists for
accuracy-only curves (NAS-Bench-101). Where the Study A authors' code
(usnistgov/ai-model-reuse, ``graph_and_fit/comparison_metrics.py``) computes it differently
from the paper's equation, ``authors`` holds that variant (DESIGN.md, "Known differences of
the authors' own code"); ``definitions: authors`` (config) or ``--definitions authors`` (CLI)
computes those, ``paper`` is the default. A :class:`Column` is a companion column of the
metrics table (a setting, a status, a fitted parameter).

Δ(fit) columns are generated for the fit points in use (:func:`metric_defs`), and a metrics
table says which it holds (:func:`fit_points_of`). Metric tables, Markdown digests, model
cards, recommend tasks, figure axes and ``reusebench metrics --list`` all read this module.
"""

from __future__ import annotations

import numbers
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import pandas as pd

from reusebench.core.errors import InputError

PAPER, AUTHORS = "paper", "authors"
DEFINITION_SETS = (PAPER, AUTHORS)
LOWER, HIGHER, CONTEXT = "lower", "higher", "context"
BETTER = {LOWER: "lower is better", HIGHER: "higher is better",
          CONTEXT: "no better side: read with the definition"}
DEFAULT_DELTA = 5
DEFAULT_FIT_POINTS = (10, 15, 20)
PAPER_FIT_POINTS = 20  # Eq. 11 and Fig. 5 use P(PW_20)
AUTHORS_CLIP = (0.0, 36.0)  # the authors' code clips every loss to this range first
FIT_MODELS = {"pw": ("PW", "power", "a·ep^b"), "exp": ("EXP", "exponential", "a·b^ep")}
LOSSES = ("train_loss", "test_loss")

# where a metric's value is found
METRICS_TABLE, PAIRS_TABLE, DATASETS, SCORES, SIZES, OPSCORE = (
    "metrics", "pairs", "table4", "scores", "size", "opscore")


@dataclass(frozen=True)
class Variant:
    """How the authors' code computes a metric where it differs from the paper's equation."""

    definition: str
    direction: str | None = None  # None: as the paper
    formula: str | None = None  # pair metrics: the formula over runs {a} and {b}


@dataclass(frozen=True)
class MetricDef:
    """One metric: what it is, how to read it, what it needs."""

    column: str
    symbol: str
    equation: str
    unit: str
    direction: str
    label: str
    definition: str
    needs: tuple[str, ...]
    on_accuracy_curves: bool
    source: str = METRICS_TABLE
    hf_type: str = ""
    log_scale: bool = False
    formula: str = ""  # pair metrics: the formula over runs {a} and {b}
    authors: Variant | None = None

    @property
    def model_index_type(self) -> str:
        return self.hf_type or self.column

    @property
    def axis_label(self) -> str:
        """Symbol and unit, for figure axes and table headers."""
        return f"{self.symbol} [{self.unit}]" if self.unit else self.symbol

    def uses_losses(self) -> bool:
        return any(need in LOSSES for need in self.needs)

    def differs(self, definitions: str) -> bool:
        """True where the chosen definitions compute this metric unlike the paper."""
        return definitions == AUTHORS and (self.authors is not None or self.uses_losses())

    def better(self, definitions: str = PAPER) -> str:
        """lower, higher or context, under the chosen definitions."""
        if definitions == AUTHORS and self.authors and self.authors.direction:
            return self.authors.direction
        return self.direction

    def text(self, definitions: str = PAPER) -> str:
        """The one-sentence definition under the chosen definitions."""
        if definitions != AUTHORS:
            return self.definition
        text = self.authors.definition if self.authors else self.definition
        if self.uses_losses():
            low, high = AUTHORS_CLIP
            text += f" Losses are clipped to [{low:g}, {high:g}] first (the authors' code)."
        return text

    def pair_name(self, a: str, b: str, definitions: str = PAPER) -> str:
        """A pair metric named by its formula over the two runs, e.g. G_init: M_er(random) −
        M_er(pretrained)."""
        formula = self.formula
        if definitions == AUTHORS and self.authors and self.authors.formula:
            formula = self.authors.formula
        return f"{self.symbol}: {formula.format(a=a, b=b)}"


@dataclass(frozen=True)
class Column:
    """A companion column of the metrics table: a setting, status or fitted parameter."""

    column: str
    of: str  # the metric column it belongs to; "" for the run
    description: str
    symbol: str = ""


def _loss_metrics() -> tuple[MetricDef, ...]:
    return (
        MetricDef("m_er", "M_er", "A Eq. 1", "", LOWER, "M_er: minimum test loss",
                  "M_er = min over epochs of the test loss H_test(ep), the mean cross entropy "
                  "of a full test pass after each epoch (Study A Eq. 1).",
                  ("test_loss",), False, hf_type="loss", log_scale=True),
        MetricDef("ep_star", "ep*", "A Eq. 1", "", CONTEXT, "ep*: epoch of the minimum",
                  "First epoch (1-based) whose test loss equals M_er; ep* = EP means the loss "
                  "was still falling when training stopped.", ("test_loss",), False),
        MetricDef("m_stab", "M_stab", "A Eq. 2", "", LOWER, "M_stab: stability",
                  "Σ over epochs in [ep* − δ, ep* + δ] ∩ [1, EP] of (H_test(ep) − M_er) "
                  "(Study A Eq. 2): how far the test loss strays around its minimum; δ and "
                  "the window length used are the columns stab_delta and stab_window.",
                  ("test_loss",), False, log_scale=True,
                  authors=Variant("Σ over a window of 2δ epochs (ep* − δ … ep* + δ − 1, "
                                  "shifted to keep 2δ epochs at the curve's ends, the whole "
                                  "curve when it is shorter) of |H_test(ep) − min H_train|, "
                                  "as the authors' code computes it.")),
        MetricDef("t_m_er", "T(M_er)", "A Eq. 3", "s", LOWER, "T(M_er): seconds to the minimum",
                  "ep* × (1 / EP) × total training seconds (Study A Eq. 3).",
                  ("test_loss", "epoch_seconds"), False,
                  authors=Variant("The cumulative training seconds of epochs 1 … ep* (the "
                                  "authors' code; Eq. 3's ep*/EP × total is equal only for "
                                  "constant epoch times).")),
        MetricDef("g_init", "G_init", "A Eq. 4", "", HIGHER, "G_init: initialization gain",
                  "M_er(random init) − M_er(pretrained init) of two runs equal in every other "
                  "key (Study A Eq. 4); positive when pretraining lowered the error.",
                  ("test_loss",), False, source=PAIRS_TABLE, formula="M_er({a}) − M_er({b})",
                  authors=Variant("M_er(pretrained init) − M_er(random init) (the authors' "
                                  "code, the opposite sign to Eq. 4); negative when "
                                  "pretraining lowered the error.", LOWER,
                                  "M_er({b}) − M_er({a})")),
    )


def _fit_metric(model: str, n_points: int) -> MetricDef:
    short, word, formula = FIT_MODELS[model]
    return MetricDef(
        f"delta_fit_{model}_{n_points}", f"Δ(fit; {short}, {n_points})", "A Eq. 5", "", LOWER,
        f"Δ(fit): {word} model fitted to the first {n_points} epochs",
        f"Σ over all epochs of |H_test(ep) − Ĥ(ep)|, Ĥ = {formula} fitted by least squares to "
        f"H_test(1 … {n_points}) (Study A Eq. 5); NaN with status too_short for a run shorter "
        f"than {n_points} epochs.", ("test_loss",), True, hf_type="delta_fit", log_scale=True)


def _best_fit_metric(fit_points: Sequence[int]) -> MetricDef:
    points = ", ".join(str(n) for n in fit_points)
    return MetricDef(
        "delta_fit_min", "min Δ(fit)", "A Eq. 5", "", LOWER, "best Δ(fit)",
        "Σ over all epochs of |H_test(ep) − Ĥ(ep)|, Ĥ a power (a·ep^b) or exponential "
        f"(a·b^ep) model fitted to the first N test losses, N ∈ {{{points}}}; the smallest of "
        f"the {len(FIT_MODELS) * len(fit_points)} and which (model, N) gave it (Study A Eq. 5): "
        "how predictable convergence is.", ("test_loss",), True, hf_type="delta_fit",
        log_scale=True)


def _other_metrics() -> tuple[MetricDef, ...]:
    return (
        MetricDef("gpu_max_mem_mb", "GPU^MaxM", "A Eq. 6", "MiB", LOWER,
                  "GPU^MaxM: peak GPU memory (MiB)",
                  "Max over epochs of the peak NVML memory used during the epoch (Study A "
                  "Eq. 6): what a GPU must hold to retrain this model.", ("gpu_mem_max_mb",),
                  False),
        MetricDef("gpu_avg_util_pct", "GPU^AvgU", "A Eq. 6", "%", LOWER,
                  "GPU^AvgU: mean GPU utilization (%)",
                  "Mean over epochs of the mean NVML utilization during the epoch (Study A "
                  "Eq. 6): the load the model puts on the GPU it is retrained on.",
                  ("gpu_util_mean_pct",), False),
        MetricDef("d_re", "D_re", "A Eq. 7", "", LOWER, "D_re: data-model representation",
                  "Σ over epochs of (H_train(ep) + H_test(ep)) (Study A Eq. 7): the overall "
                  "representation error of the training data in this architecture.",
                  LOSSES, False, log_scale=True),
        MetricDef("d_unif", "D_unif", "A Eq. 8", "", HIGHER, "D_unif: train-test uniformity",
                  "Pearson correlation of the train and test loss curves (Study A Eq. 8); near "
                  "1 when the train and test subsets behave alike.", LOSSES, True),
        MetricDef("d_init_data", "D_init(data)", "A Eq. 9", "", HIGHER,
                  "D_init(data): data compatibility",
                  "Σ over common epochs of H_test(random) − H_test(pretrained) (Study A Eq. 9); "
                  "positive when the pretrained run's test loss lies below.", ("test_loss",),
                  False, source=PAIRS_TABLE, formula="Σ H_test({a}) − H_test({b})",
                  authors=Variant("Σ over common epochs of max(H_test(pretrained) − "
                                  "H_test(random), 0), the epochs where the pretrained run is "
                                  "worse (the authors' code).", LOWER,
                                  "Σ max(H_test({b}) − H_test({a}), 0)")),
        MetricDef("d_init_graph", "D_init(graph)", "A Eq. 9", "", CONTEXT,
                  "D_init(graph): graph compatibility",
                  "Σ over common epochs of H_test(a1) − H_test(a2), two architectures with all "
                  "else equal (Study A Eq. 9); positive when a2's test loss lies below.",
                  ("test_loss",), True, source=PAIRS_TABLE, formula="Σ H_test({a}) − H_test({b})"),
        MetricDef("cv", "CV", "A Eq. 10", "", CONTEXT, "CV: contrast of the data set",
                  "(1/N) Σ_i σ_i/μ_i over the N training intensity images (Study A Eq. 10); "
                  "higher means more contrast, an easier data set.", ("images",), False,
                  source=DATASETS),
    )


def _score_metrics() -> tuple[MetricDef, ...]:
    def score(column: str, symbol: str, label: str, definition: str,
              accuracy: bool = False) -> MetricDef:
        return MetricDef(column, symbol, "", "", HIGHER, label, definition, (column,), accuracy,
                         source=SCORES)

    return (
        score("pixel_accuracy", "pixel accuracy", "pixel accuracy (final epoch)",
              "Fraction of test pixels whose predicted class is right, after the last epoch "
              "(the saved checkpoint)."),
        score("accuracy", "accuracy", "accuracy (test set)",
              "Fraction of test images classified right by the final model (Study B Eq. 2).",
              accuracy=True),
        score("precision", "precision", "macro precision",
              "Mean over classes of TP / (TP + FP) on the test set."),
        score("recall", "recall", "macro recall",
              "Mean over classes of TP / (TP + FN) on the test set."),
        score("f1", "F1", "macro F1",
              "Mean over classes of the harmonic mean of precision and recall on the test set."),
        score("iou", "IoU", "macro IoU",
              "Mean over classes of TP / (TP + FP + FN), the intersection over union of "
              "predicted and true pixels."),
    )


def _size_metrics() -> tuple[MetricDef, ...]:
    def opscore(column: str, label: str, definition: str) -> MetricDef:
        return MetricDef(column, "OpScore", "B Eq. 1", "", LOWER, label, definition,
                         ("accuracy", "seconds", "size"), False, source=OPSCORE,
                         hf_type="opscore" if column == "opscore_total" else "")

    return (
        MetricDef("checkpoint_mb", "size", "", "MB", LOWER, "size: checkpoint file (MB)",
                  "Size of checkpoint.pt in MB (10^6 bytes): weights and BatchNorm statistics "
                  "in the config's checkpoint_dtype (plus the optimizer state only where "
                  "study_a.keep_optimizer_state is set).", ("checkpoint",), False,
                  source=SIZES, hf_type="size_mb"),
        MetricDef("size_mb", "size", "", "MB", LOWER, "size: saved model file (MB)",
                  "Size of the saved HDF5 model in MB (10^6 bytes) (Study B).", ("model file",),
                  False, source=SIZES),
        MetricDef("gzip_mb", "gzip size", "", "MB", LOWER, "size: gzip-compressed model (MB)",
                  "Size of the saved model after gzip (Study B; clustering pays off here).",
                  ("model file",), False, source=SIZES),
        opscore("opscore_total", "OpScore (train + test time)",
                "log10(1 − accuracy) + log10(time in s) + log10(size in MB) (Study B Eq. 1) "
                "with the training plus test time and the saved file's size."),
        opscore("opscore_train", "OpScore (train time)", "OpScore with the training time only."),
        opscore("opscore_test", "OpScore (test time)",
                "OpScore with the test (inference) time only."),
        opscore("opscore_total_gzip", "OpScore (total time, gzip size)",
                "OpScore with the total time and the gzip-compressed size."),
    )


def metric_defs(fit_points: Sequence[int] = DEFAULT_FIT_POINTS) -> tuple[MetricDef, ...]:
    """Every metric in display order, with the Δ(fit) metrics of ``fit_points``."""
    fits = tuple(_fit_metric(model, n) for n in fit_points for model in FIT_MODELS)
    return (*_loss_metrics(), *fits, _best_fit_metric(fit_points), *_other_metrics(),
            *_score_metrics(), *_size_metrics())


METRICS: tuple[MetricDef, ...] = metric_defs()
BY_COLUMN: dict[str, MetricDef] = {metric.column: metric for metric in METRICS}
_FIT_COLUMN = re.compile(r"delta_fit_(pw|exp)_(\d+)")


def metric(column: str, fit_points: Sequence[int] = DEFAULT_FIT_POINTS) -> MetricDef:
    """The definition of a metric column, Δ(fit) columns of any N included (KeyError if none)."""
    match = _FIT_COLUMN.fullmatch(column)
    if match:
        return _fit_metric(match[1], int(match[2]))
    if column == "delta_fit_min":
        return _best_fit_metric(fit_points)
    return BY_COLUMN[column]


def is_metric(column: str) -> bool:
    """True for a registered metric column, Δ(fit) columns of any N included."""
    return column in BY_COLUMN or _FIT_COLUMN.fullmatch(column) is not None


def fit_column(model: str, n_points: int) -> str:
    return f"delta_fit_{model}_{n_points}"


def companion_columns(fit_points: Sequence[int] = DEFAULT_FIT_POINTS) -> tuple[Column, ...]:
    """The metrics table's columns that are not metrics, in table order."""
    run = (
        Column("n_epochs", "", "EP, the last recorded epoch.", "EP"),
        Column("definitions", "", "Which definitions computed the metrics: paper (the "
               "equations) or authors (the Study A authors' code)."),
        Column("diverged", "", "A loss is non-finite or the test loss exceeds diverge_factor × "
               "its first value or × the constant-prediction loss."),
        Column("not_learning", "", "M_er is not below (1 − learn_margin) × the reference loss."),
        Column("flag_reason", "", "Why the run is flagged, in one sentence."),
        Column("reference_loss", "", "The loss a run must beat to count as learning."),
        Column("reference_kind", "", "constant_prediction, first_epoch or none."),
        Column("stab_delta", "m_stab", "δ, the half-width of the stability window in epochs.",
               "δ"),
        Column("stab_window", "m_stab", "Epochs in the stability window actually summed: "
               "2δ + 1 clipped at the curve's ends (paper), 2δ or EP if shorter (authors)."),
        Column("m_stab_status", "m_stab", "ok, or why M_stab is NaN."),
        Column("d_re_status", "d_re", "ok, or why D_re is NaN."),
        Column("d_unif_status", "d_unif", "ok, or why D_unif is NaN."),
        Column("delta_fit_best", "delta_fit_min", "Which (model, N) gave min Δ(fit), e.g. pw_10."),
    )
    fits = tuple(
        Column(f"fit_{model}_{n}_{part}", fit_column(model, n), text)
        for n in fit_points for model in FIT_MODELS
        for part, text in (("a", "Fitted parameter a."), ("b", "Fitted parameter b."),
                           ("status", "ok or max_iter where Δ(fit) has a value, else why "
                                      "not (too_short, failed, nonfinite_input, …).")))
    return (*run, *fits)


def metrics_table_columns(fit_points: Sequence[int] = DEFAULT_FIT_POINTS) -> tuple[str, ...]:
    """Every column the per-run metrics table may hold besides the run keys."""
    metrics = [m.column for m in metric_defs(fit_points) if m.source == METRICS_TABLE]
    return (*metrics, *(column.column for column in companion_columns(fit_points)))


def grouped_columns(fit_points: Sequence[int], shown: Iterable[str]) -> tuple[str, ...]:
    """The per-run metric columns in display order, each followed by those of its companion
    columns named in ``shown``; then the run's companions named in ``shown``."""
    shown = set(shown)
    companions = [c for c in companion_columns(fit_points) if c.column in shown]
    ordered: list[str] = []
    for m in metric_defs(fit_points):
        if m.source == METRICS_TABLE:
            ordered += [m.column, *(c.column for c in companions if c.of == m.column)]
    return (*ordered, *(c.column for c in companions if not c.of))


# ---------------------------------------------------------------- settings in use


def check_fit_points(fit_points: Iterable[int]) -> tuple[int, ...]:
    """The fit points as a tuple; InputError unless they are distinct whole numbers ≥ 2."""
    points = tuple(fit_points)
    if (not points or any(isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 2
                              for n in points)
            or len(set(points)) != len(points)):
        raise InputError("The fit points (--fit-points, metrics.fit_points) must be distinct "
                         f"whole numbers of at least 2 (a fit has two parameters), not {points!r}.")
    return tuple(int(n) for n in points)


def check_delta(delta: int) -> int:
    if isinstance(delta, bool) or not isinstance(delta, numbers.Integral) or delta < 0:
        raise InputError("The stability half-width δ (--delta, metrics.delta) must be a whole "
                         f"number of at least 0, not {delta!r}.")
    return int(delta)


def check_definitions(definitions: str) -> str:
    if definitions not in DEFINITION_SETS:
        raise InputError(f"The metric definitions (--definitions, metrics.definitions) must be "
                         f"{' or '.join(DEFINITION_SETS)}, not {definitions!r}.")
    return definitions


def fit_points_of(columns: Iterable[str]) -> tuple[int, ...]:
    """The N of the Δ(fit) columns among ``columns`` (a table's columns), in ascending order."""
    found = {int(match[2]) for match in map(_FIT_COLUMN.fullmatch, columns) if match}
    return tuple(sorted(found))


def paper_fit_column(fit_points: Sequence[int]) -> str:
    """The Δ(fit) column standing for the paper's P(PW_20): PW at N = 20, else the largest N."""
    if not fit_points:
        raise InputError("The metrics table has no Δ(fit) column (delta_fit_pw_N).")
    n = PAPER_FIT_POINTS if PAPER_FIT_POINTS in fit_points else max(fit_points)
    return fit_column("pw", n)


def definitions_of(table: pd.DataFrame) -> str:
    """The definitions a metrics table was computed with (paper where it does not say)."""
    if "definitions" not in table.columns:
        return PAPER
    found = sorted(set(table["definitions"].dropna().astype(str)))
    if len(found) > 1:
        raise InputError(f"The metrics table mixes metric definitions ({', '.join(found)}); "
                         "compute every run with the same ones.")
    return found[0] if found else PAPER


# ---------------------------------------------------------------- the registry as text


def symbols(source: str = METRICS_TABLE, fit_points: Sequence[int] = DEFAULT_FIT_POINTS) -> str:
    """The symbols of one source's metrics, joined for help texts: "M_er, ep*, …"."""
    return ", ".join(m.symbol for m in metric_defs(fit_points) if m.source == source)


def registry_table(fit_points: Sequence[int] = DEFAULT_FIT_POINTS,
                   definitions: str = PAPER) -> pd.DataFrame:
    """One row per metric: column, symbol, equation, unit, better, label, needs, accuracy
    curves, source, whether the definitions differ from the paper, and the definition."""
    return pd.DataFrame([{
        "column": m.column, "symbol": m.symbol, "equation": m.equation, "unit": m.unit,
        "better": m.better(definitions), "label": m.label, "needs": ", ".join(m.needs),
        "accuracy curves": "yes" if m.on_accuracy_curves else "no", "source": m.source,
        "differs": "yes" if m.differs(definitions) else "", "definition": m.text(definitions)}
        for m in metric_defs(fit_points)])


def companion_table(fit_points: Sequence[int] = DEFAULT_FIT_POINTS) -> pd.DataFrame:
    return pd.DataFrame([{"column": c.column, "symbol": c.symbol, "of": c.of,
                          "description": c.description} for c in companion_columns(fit_points)])
