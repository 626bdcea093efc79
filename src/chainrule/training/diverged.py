"""When training diverges: :class:`TrainingDiverged`, raised by the loop
(:mod:`chainrule.training.loop`, which says when: a NaN or infinite loss, or one more than
``DIVERGENCE_FACTOR`` times the first step's), and what it says, by code."""

from __future__ import annotations

import math

from chainrule.core.messages import Catalog, Coded

MESSAGES = Catalog("diverged", {
    "diverged.loss": "training diverged at iteration {iteration}: the loss is {loss}; try a "
                     "lower learning rate (now {lr})",
    "diverged.times_first": "training diverged at iteration {iteration}: the loss is {loss}, "
                            "more than {factor} times the first step's ({first}); try a lower "
                            "learning rate (now {lr})",
    "diverged.above": "training diverged at iteration {iteration}: the loss is {loss}, "
                      "more than {factor}; try a lower learning rate (now {lr})",
})
""":class:`TrainingDiverged`'s words by code (see :mod:`chainrule.core.messages`)."""


class TrainingDiverged(Coded, FloatingPointError):
    """The loss became NaN, infinite or far above the first step's loss (see
    :data:`~chainrule.training.loop.DIVERGENCE_FACTOR`); the step that produced it was
    not applied. ``code`` and ``params`` say it as data (:data:`MESSAGES`; the numbers
    as the message shows them)."""

    def __init__(self, iteration: int, loss: float, lr: float | None = None, *,
                 factor: float | None = None, first: float | None = None):
        self.iteration, self.loss, self.lr = iteration, loss, lr
        self.factor, self.first = factor, first
        code = "diverged.loss"
        shown = {"iteration": iteration, "loss": f"{loss:.4g}" if math.isfinite(loss) else
                 str(loss), "lr": "?" if lr is None else f"{lr:g}"}
        if math.isfinite(loss) and factor is not None and first is not None:
            code = "diverged.times_first" if first >= 1 else "diverged.above"
            shown.update(factor=f"{factor:g}", first=f"{first:.4g}")
        super().__init__(MESSAGES.say(code, **shown))
        self.coded(code, **shown)

    @property
    def reason(self) -> str:
        """``the loss is nan``, or ``the loss is 1.2e+27, more than 1000 times the first
        step's (2.303)``: the message between the iteration and the advice."""
        return str(self).split(": ", 1)[1].rsplit("; try ", 1)[0]
