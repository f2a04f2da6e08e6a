"""Classification scores of Study B (paper Eq. 2-5), macro-averaged over classes."""

from __future__ import annotations

import numpy as np

from reusebench.core.evidence import above_chance

__all__ = ["above_chance", "classification_scores", "random_baseline", "reference_loss"]


def classification_scores(y_true: np.ndarray, y_pred: np.ndarray,
                          n_classes: int) -> dict[str, float]:
    """Accuracy and macro precision, recall and F1 over all ``n_classes`` classes.

    Per class, precision is TP/(TP+FP) and recall TP/(TP+FN); a class never predicted (or
    absent from ``y_true``) scores 0 there, as scikit-learn's ``zero_division=0``. F1 is the
    mean over classes of each class's harmonic mean of precision and recall.
    """
    y_true, y_pred = np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)
    if y_true.shape != y_pred.shape or y_true.size == 0:
        raise ValueError(f"need equally long, non-empty label arrays; got {y_true.shape} and "
                         f"{y_pred.shape}")
    confusion = np.bincount(y_true * n_classes + y_pred,
                            minlength=n_classes * n_classes).reshape(n_classes, n_classes)
    true_positive = np.diag(confusion).astype(np.float64)
    predicted, actual = confusion.sum(axis=0), confusion.sum(axis=1)
    precision = np.divide(true_positive, predicted, out=np.zeros(n_classes), where=predicted > 0)
    recall = np.divide(true_positive, actual, out=np.zeros(n_classes), where=actual > 0)
    both = precision + recall
    f1 = np.divide(2 * precision * recall, both, out=np.zeros(n_classes), where=both > 0)
    return {"accuracy": float(true_positive.sum() / y_true.size),
            "correct": int(true_positive.sum()),
            "precision": float(precision.mean()), "recall": float(recall.mean()),
            "f1": float(f1.mean())}


def reference_loss(y_train: np.ndarray, y_test: np.ndarray, n_classes: int) -> float:
    """Cross-entropy of the constant prediction p_train: −Σ_c q_test(c) ln p_train(c).

    ``p_train`` and ``q_test`` are the class frequencies of the training and test labels;
    ln(n_classes) for balanced classes, +inf when a test class never occurs in training.
    """
    p_train = np.bincount(y_train, minlength=n_classes) / len(y_train)
    q_test = np.bincount(y_test, minlength=n_classes) / len(y_test)
    present = q_test > 0
    if (p_train[present] == 0).any():
        return float("inf")
    return float(-(q_test[present] * np.log(p_train[present])).sum())


def random_baseline(data: dict, dataset: str, seed: int) -> dict[str, object]:
    """Scores of uniformly random predictions on a data set's test set (paper Sec. 4.1)."""
    n_classes = len(data["class_names"])
    rng = np.random.default_rng(seed)
    predictions = rng.integers(0, n_classes, len(data["y_test"]))
    return {"dataset": dataset, "arch": "random", "technique": "random", "device": "",
            **classification_scores(data["y_test"], predictions, n_classes),
            "n_test": len(data["y_test"]), "n_classes": n_classes}
