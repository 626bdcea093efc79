"""Where random numbers come from: a given generator, a seed, or NumPy's global state.

Networks and layers take ``seed=`` or ``rng=`` (a ``numpy.random.Generator``); with
neither they draw from NumPy's global state, so that ``np.random.seed(0)`` makes a
script repeatable, as learners of the book expect. The draws are then the very calls
of the book's code: ``np.random.randn`` for weights, ``np.random.rand`` for dropout
masks, ``np.random.choice`` for batches, so the same seed gives the book's numbers.
"""

from __future__ import annotations

from typing import Any

import numpy as np


class _GlobalBitGenerator:
    """``state`` reads and writes NumPy's global state (for save and restore)."""

    @property
    def state(self) -> dict[str, Any]:
        return np.random.get_state(legacy=False)

    @state.setter
    def state(self, value) -> None:
        np.random.set_state(value)


class GlobalRandom:
    """NumPy's global random state behind the ``Generator`` methods chainrule uses.

    ``standard_normal(shape)`` draws what ``np.random.randn(*shape)`` draws,
    ``random(shape)`` what ``np.random.rand(*shape)`` draws and ``integers(n, size=k)``
    what ``np.random.choice(n, k)`` draws, ``permutation`` is ``np.random.permutation``;
    ``bit_generator.state`` is
    ``np.random.get_state()`` (settable). There is one global state, so every
    instance is the same stream.
    """

    bit_generator = _GlobalBitGenerator()

    def standard_normal(self, size=None):
        return np.random.standard_normal(size)

    def random(self, size=None):
        return np.random.random_sample(size)

    def integers(self, low, high=None, size=None):
        return np.random.randint(low, high, size)

    def permutation(self, x):
        return np.random.permutation(x)

    def __repr__(self) -> str:
        return "GlobalRandom()  # numpy's global random state"


GLOBAL = GlobalRandom()
"""The global state, as handed out by :func:`make_rng` when no seed or rng is given."""

Random = np.random.Generator | GlobalRandom


def make_rng(seed=None, rng: Random | None = None) -> Random:
    """The source to draw from: ``rng`` if given, else a new generator from ``seed``,
    else (neither given) NumPy's global state, :data:`GLOBAL`."""
    if rng is not None and seed is not None:
        raise ValueError("give either seed or rng, not both")
    if rng is not None:
        return rng
    return GLOBAL if seed is None else np.random.default_rng(seed)


def copy_rng(rng: Random) -> Random:
    """An independent generator in the same state as ``rng``; the global state itself
    for :class:`GlobalRandom` (it cannot be copied without leaving it)."""
    if isinstance(rng, GlobalRandom):
        return rng
    bit_generator = type(rng.bit_generator)()
    bit_generator.state = rng.bit_generator.state
    return np.random.Generator(bit_generator)
