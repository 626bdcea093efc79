"""How good a trained network is: accuracy per class and the confusion matrix
(:func:`evaluate`, as ``chainrule evaluate`` prints it)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from chainrule.core.functions import check_labels
from chainrule.nn.network import chunk_size, predict_in_chunks


@dataclass
class Evaluation:
    """Accuracy overall and per class, and the confusion matrix (rows: true class).

    A sample whose scores hold a NaN predicts no class: it counts as wrong and is
    kept out of the confusion matrix, in ``no_prediction`` (per true class).
    """

    accuracy: float
    confusion: np.ndarray
    class_names: tuple[str, ...]
    no_prediction: np.ndarray | None = None

    @property
    def counts(self) -> np.ndarray:
        counts = self.confusion.sum(axis=1)
        return counts if self.no_prediction is None else counts + self.no_prediction

    @property
    def per_class(self) -> np.ndarray:
        """Accuracy of each true class (NaN for a class with no samples)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.diag(self.confusion) / self.counts

    def __str__(self) -> str:
        k = len(self.class_names)
        named = any(n != str(c) for c, n in enumerate(self.class_names))
        name_width = max(map(len, self.class_names)) + 1 if named else 0
        lost = 0 if self.no_prediction is None else int(self.no_prediction.sum())
        lines = [f"accuracy {self.accuracy:.4f} ({int(np.trace(self.confusion))} of "
                 f"{int(self.counts.sum())})"
                 + (f"; {lost} with NaN scores predict nothing and count as wrong"
                    if lost else ""), "",
                 f"{'class':<{name_width + 3}} accuracy   count"]
        for c in range(k):
            name = f"{self.class_names[c]:<{name_width}}" if named else ""
            lines.append(f"{c:>2} {name}{self.per_class[c]:9.4f} {int(self.counts[c]):7d}")
        width = max(5, len(str(int(self.confusion.max(initial=0)))) + 1)
        lines += ["", "confusion matrix (rows: true class, columns: predicted class)",
                  "   " + "".join(f"{c:>{width}}" for c in range(k))]
        lines += [f"{r:>2} " + "".join(f"{v:>{width}}" for v in self.confusion[r])
                  for r in range(k)]
        return "\n".join(lines)


def confusion_matrix(t, y, num_classes: int) -> np.ndarray:
    """``m[i, j]`` = how many samples of true class ``i`` were predicted as ``j``."""
    t, y = np.asarray(t).reshape(-1), np.asarray(y).reshape(-1)
    return np.bincount(t * num_classes + y, minlength=num_classes ** 2).reshape(
        num_classes, num_classes)


def evaluate(net, x, t, *, class_names=None, batch_size: int = 10000) -> Evaluation:
    """Accuracy, per-class accuracy and confusion matrix of ``net`` on ``(x, t)``.

    ``t`` is checked as the loss checks it (one label per sample, in range); an empty
    set is a ``ValueError``. Samples with NaN scores count as wrong."""
    if len(x) == 0:
        raise ValueError("evaluate: no samples to evaluate (the set is empty)")
    scores = predict_in_chunks(net.predict, x, chunk_size(net, batch_size))
    t = check_labels(scores, t, "evaluate")
    if t.shape == scores.shape:
        t = t.argmax(axis=-1)
    k = scores.shape[-1]
    names = tuple(class_names) if class_names is not None else tuple(str(c) for c in range(k))
    if len(names) != k:
        raise ValueError(f"evaluate: {len(names)} class names for {k} outputs")
    y = scores.argmax(axis=-1)
    nan = np.isnan(scores).any(axis=-1) if scores.dtype.kind in "fc" else np.zeros(len(y), bool)
    return Evaluation(float(np.mean((y == t) & ~nan)), confusion_matrix(t[~nan], y[~nan], k),
                      names, np.bincount(t[nan], minlength=k))
