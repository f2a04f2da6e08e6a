"""Segmentation scores, kept out of the loop: the class weights of the loss, the confusion
matrix, the pixel accuracy and macro scores computed from it, and the constant-prediction
reference every curve row carries."""

from __future__ import annotations

import math

import numpy as np
import torch

METRICS = ("pixel_accuracy", "precision", "recall", "f1", "iou")
REFERENCE_COLUMNS = ("reference_loss", "reference_iou", "reference_f1")


def class_weights(masks: np.ndarray, n_classes: int) -> torch.Tensor:
    """Inverse class-proportion weights ``(1/p_c) / sum_k (1/p_k)``; 0 for absent classes."""
    counts = np.bincount(np.asarray(masks).ravel(), minlength=n_classes)[:n_classes]
    present = counts > 0
    inverse = np.zeros(n_classes)
    inverse[present] = counts.sum() / counts[present]
    return torch.tensor(inverse / inverse.sum(), dtype=torch.float32)


def confusion_matrix(predicted: np.ndarray, target: np.ndarray, n_classes: int) -> np.ndarray:
    """Pixel counts (n_classes × n_classes): rows are the true class, columns the predicted."""
    pairs = np.asarray(target, dtype=np.int64).ravel() * n_classes + \
        np.asarray(predicted, dtype=np.int64).ravel()
    return np.bincount(pairs, minlength=n_classes**2).reshape(n_classes, n_classes)


def segmentation_scores(confusion: np.ndarray) -> dict[str, float]:
    """Pixel accuracy and macro precision, recall, F1 and IoU from a confusion matrix.

    Per class c: precision TP/(TP+FP), recall TP/(TP+FN), F1 2TP/(2TP+FP+FN), IoU
    TP/(TP+FP+FN). A class whose ratio is 0/0 (never predicted, or absent from both
    prediction and truth) is left out of that macro mean.
    """
    confusion = np.asarray(confusion, dtype=np.float64)
    true_positive = np.diag(confusion)
    predicted, actual = confusion.sum(axis=0), confusion.sum(axis=1)
    union = predicted + actual - true_positive
    return {
        "pixel_accuracy": ratio(true_positive.sum(), confusion.sum()),
        "precision": _macro(true_positive, predicted),
        "recall": _macro(true_positive, actual),
        "f1": _macro(2 * true_positive, predicted + actual),
        "iou": _macro(true_positive, union),
    }


def constant_reference(train_masks: np.ndarray, test_masks: np.ndarray,
                       weights: torch.Tensor) -> dict[str, float]:
    """Test loss, IoU and F1 of the best prediction that ignores the image.

    The constant class distribution that minimises the run's training loss (cross entropy
    with class weights w) is ``p_c = w_c n_c / sum_k w_k n_k``, n_c the training pixels of
    class c: the training class frequencies when the weights are equal, uniform over the
    classes present with inverse-proportion weights. ``reference_loss`` is its test loss,
    ``-sum_c w_c m_c ln p_c / sum_c w_c m_c`` (m_c the test pixels of class c), the same
    weighted mean as the run's test loss; with equal weights it is
    ``-sum_c q_test(c) ln p_train(c)``. IoU and F1 are those of predicting the most frequent
    training class at every test pixel.
    """
    w = weights.double().numpy()
    n_classes = len(w)
    train_counts = np.bincount(np.asarray(train_masks).ravel(), minlength=n_classes)
    test_counts = np.bincount(np.asarray(test_masks).ravel(), minlength=n_classes)
    mass = w * train_counts
    used = w * test_counts > 0
    with np.errstate(divide="ignore"):
        log_p = np.log(mass / mass.sum())
    loss = ratio(-(w * test_counts * log_p)[used].sum(), (w * test_counts).sum())
    confusion = np.zeros((n_classes, n_classes), dtype=np.int64)
    confusion[:, int(np.argmax(train_counts))] = test_counts
    scores = segmentation_scores(confusion)
    return {"reference_loss": loss, "reference_iou": scores["iou"],
            "reference_f1": scores["f1"]}


def ratio(numerator: float, denominator: float) -> float:
    """``numerator / denominator`` as a float; NaN when the denominator is not positive."""
    return float(numerator / denominator) if denominator > 0 else math.nan


def _macro(numerators: np.ndarray, denominators: np.ndarray) -> float:
    defined = denominators > 0
    return float(np.mean(numerators[defined] / denominators[defined])) if defined.any() \
        else math.nan
