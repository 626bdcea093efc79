"""Optimizers: ``update(params, grads)`` changes each parameter array in place."""

from __future__ import annotations

import numpy as np


class SGD:
    """Stochastic gradient descent: ``W -= lr * dW``."""

    def __init__(self, lr: float = 0.01):
        if not lr > 0:
            raise ValueError(f"SGD: learning rate must be positive, got {lr}")
        self.lr = lr

    def update(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray]) -> None:
        for key, p in params.items():
            p -= self.lr * grads[key]

    def state_dict(self) -> dict[str, np.ndarray]:
        """Arrays to save in a checkpoint (plain SGD keeps none)."""
        return {}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        pass
