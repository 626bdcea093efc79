"""A run's record: one row per evaluation and every step's loss (:class:`History`)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np


@dataclass
class History:
    """One row per evaluation, plus every step's mini-batch loss.

    ``loss`` of a row is the mean mini-batch loss of the steps since the previous row
    (each measured in its step's forward pass, before that step's update);
    ``iteration`` is the 0-based index ``i`` of the step after which the row was
    measured; ``epoch = i / iters_per_epoch``.
    """

    COLUMNS = ("iteration", "epoch", "loss", "train_acc", "test_acc")

    iteration: list[int] = field(default_factory=list)
    epoch: list[float] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    test_acc: list[float] = field(default_factory=list)
    step_loss: list[float] = field(default_factory=list)

    # the book's names
    @property
    def train_loss_list(self) -> list[float]:
        return self.step_loss

    @property
    def train_acc_list(self) -> list[float]:
        return self.train_acc

    @property
    def test_acc_list(self) -> list[float]:
        return self.test_acc

    def __len__(self) -> int:
        return len(self.iteration)

    def append(self, row: dict[str, float]) -> None:
        for c in self.COLUMNS:
            getattr(self, c).append(row[c])

    def rows(self) -> list[dict[str, float]]:
        return [dict(zip(self.COLUMNS, r, strict=True))
                for r in zip(*(getattr(self, c) for c in self.COLUMNS), strict=True)]

    def last(self) -> dict[str, float] | None:
        return self.rows()[-1] if self.iteration else None

    def to_csv(self) -> str:
        """``metrics.csv``: a header and one row per evaluation, floats in full precision."""
        lines = [",".join(self.COLUMNS)]
        lines += [f"{r['iteration']}," + ",".join(repr(float(r[c])) for c in self.COLUMNS[1:])
                  for r in self.rows()]
        return "\n".join(lines) + "\n"

    def state_dict(self, *, steps_from: int = 0) -> dict[str, np.ndarray]:
        """The rows, and the step losses from step ``steps_from`` on (all by default).

        With ``steps_from = k > 0`` the arrays also hold ``step_loss_from`` (k) and
        ``first_loss`` (step 0's loss): :meth:`from_state_dict` puts NaN for steps
        ``1 .. k-1`` (a run folder keeps them in its own file, see
        :mod:`chainrule.training.runs`). What resuming needs is the steps since the last row.
        """
        arrays = {c: np.array(getattr(self, c), dtype=np.float64) for c in self.COLUMNS}
        arrays["iteration"] = np.array(self.iteration, dtype=np.int64)
        arrays["step_loss"] = np.array(self.step_loss[steps_from:], dtype=np.float64)
        if steps_from > 0:
            arrays["step_loss_from"] = np.array(steps_from, dtype=np.int64)
            arrays["first_loss"] = np.array(self.step_loss[0] if self.step_loss else math.nan)
        return arrays

    @classmethod
    def from_state_dict(cls, arrays: dict[str, np.ndarray]) -> History:
        missing = [c for c in (*cls.COLUMNS, "step_loss") if c not in arrays]
        if missing:
            raise ValueError(f"history: missing {', '.join(missing)}")
        h = cls(**{c: [float(v) for v in arrays[c]] for c in (*cls.COLUMNS[1:], "step_loss")})
        h.iteration = [int(v) for v in arrays["iteration"]]
        if len({len(getattr(h, c)) for c in cls.COLUMNS}) != 1:
            raise ValueError("history: columns have different lengths")
        start = int(arrays.get("step_loss_from", 0))
        if start < 0:
            raise ValueError(f"history: bad step_loss_from {start}")
        if start > 0:
            first = float(arrays.get("first_loss", math.nan))
            h.step_loss = [first] + [math.nan] * (start - 1) + h.step_loss
        return h

    def steps_since_last_row(self) -> int:
        """The first step whose loss the next row's mean needs."""
        return self.iteration[-1] + 1 if self.iteration else 0
