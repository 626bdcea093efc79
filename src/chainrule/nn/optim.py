"""Optimizers: ``update(params, grads)`` writes every ``params[key]``.

The update rules are the book's (chapter 6). A parameter that is an array is changed
in place (the layers hold it by reference); any other value, e.g. the plain Python
floats of the book's ``optimizer_compare_naive.py``, is replaced in the dict, as the
book's ``params[key] -= ...`` does. Every optimizer keeps its state (velocities,
squared-gradient sums, the step counter) in arrays of the parameters' dtype (float64
for Python numbers), created at the first ``update``; ``state_dict()`` returns copies
of them under keys such as ``"v/W1"`` or ``"t"``, and ``load_state_dict()`` puts them
back, so a run saved and resumed continues bit for bit. No optimizer draws random
numbers.
"""

from __future__ import annotations

import numpy as np

from chainrule.core.floats import zero_where


def _sub(params: dict, key: str, delta) -> None:
    """``params[key] -= delta``: in place for an array, a new value otherwise."""
    p = params[key]
    if isinstance(p, np.ndarray):
        p -= delta
    else:
        params[key] = p - delta


def _add(params: dict, key: str, delta) -> None:
    """``params[key] += delta``: in place for an array, a new value otherwise."""
    p = params[key]
    if isinstance(p, np.ndarray):
        p += delta
    else:
        params[key] = p + delta


def _zeros(p) -> np.ndarray:
    """Zeros for the state of parameter ``p``: its shape and dtype (float64 unless floating)."""
    a = np.asarray(p)
    return np.zeros_like(a, dtype=a.dtype if np.issubdtype(a.dtype, np.floating) else np.float64)


def _check_rate(name: str, what: str, value: float, *, low_inclusive: bool = True) -> None:
    ok = (0 <= value < 1) if low_inclusive else (value > 0)
    if not (ok and np.isfinite(value)):
        want = "in [0, 1)" if low_inclusive else "a finite number > 0"
        raise ValueError(f"{name}: {what} must be {want}, got {value}")


class SGD:
    """Stochastic gradient descent: ``W -= lr * dW``."""

    slots: tuple[str, ...] = ()
    """The names of the state arrays kept per parameter (none)."""

    def __init__(self, lr: float = 0.01):
        _check_rate("SGD", "learning rate", lr, low_inclusive=False)
        self.lr = lr

    def update(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray]) -> None:
        for key in params:
            _sub(params, key, self.lr * grads[key])

    def state_dict(self) -> dict[str, np.ndarray]:
        """Arrays to save in a checkpoint (plain SGD keeps none)."""
        return {}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        pass


class _Stateful:
    """Per-parameter state arrays (``slots``, e.g. ``("v",)``) and an optional step counter.

    Subclasses define ``update``; this base deliberately has none, so it is not an
    optimizer of its own.
    """

    slots: tuple[str, ...] = ()
    counts_steps = False

    def __init__(self, lr: float):
        _check_rate(type(self).__name__, "learning rate", lr, low_inclusive=False)
        self.lr = float(lr)  # a Python float: a float32 run stays float32
        self.state: dict[str, dict[str, np.ndarray]] | None = None  # slot -> key -> array
        self.t = 0  # updates done (kept by Adam only)
        self._checked = False  # whether a loaded state was compared with the params

    def __getattr__(self, name: str):
        """The book's names for the state: ``v``, ``h``, ``m`` (None before the first update)."""
        if name in type(self).slots:
            state = self.__dict__.get("state")
            return None if state is None else state[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def _slots(self, params: dict[str, np.ndarray]) -> dict[str, dict[str, np.ndarray]]:
        if self.state is None:
            self.state = {s: {k: _zeros(p) for k, p in params.items()} for s in self.slots}
            self._checked = True
        elif not self._checked:
            self._check(params)
        return self.state

    def _check(self, params: dict[str, np.ndarray]) -> None:
        name = type(self).__name__
        for slot, arrays in self.state.items():
            if arrays.keys() != params.keys():
                raise ValueError(f"{name}: the loaded state is for parameters {sorted(arrays)}, "
                                 f"not {sorted(params)}")
            for k, p in params.items():
                want = _zeros(p)
                if arrays[k].shape != want.shape or arrays[k].dtype != want.dtype:
                    raise ValueError(f"{name}: state {slot}/{k} is {arrays[k].dtype} "
                                     f"{arrays[k].shape}, the parameter {want.dtype} "
                                     f"{want.shape}")
        self._checked = True

    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of the state: ``"<slot>/<param>"`` arrays, plus ``"t"`` (0-d int64) for Adam."""
        out: dict[str, np.ndarray] = {}
        if self.counts_steps:
            out["t"] = np.array(self.t, dtype=np.int64)
        for slot, arrays in (self.state or {}).items():
            out.update({f"{slot}/{k}": a.copy() for k, a in arrays.items()})
        return out

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Continue from ``state`` (as from :meth:`state_dict`; an empty dict: a fresh start)."""
        name = type(self).__name__
        state = dict(state)
        t = state.pop("t", None)
        if self.counts_steps and state and t is None:
            raise ValueError(f"{name}: state has no step counter 't'")
        slots: dict[str, dict[str, np.ndarray]] = {s: {} for s in self.slots}
        for key, a in state.items():
            slot, _, param = key.partition("/")
            if slot not in slots or not param:
                raise ValueError(f"{name}: unexpected state entry {key!r}; expected "
                                 f"{' or '.join(repr(s + '/<param>') for s in self.slots)}")
            slots[slot][param] = np.array(a)
        names = [set(d) for d in slots.values()]
        if any(n != names[0] for n in names):
            raise ValueError(f"{name}: state slots cover different parameters: "
                             + "; ".join(f"{s}: {sorted(d)}" for s, d in slots.items()))
        self.state = slots if state else None
        self.t = int(t) if t is not None else 0
        self._checked = False


class Momentum(_Stateful):
    """``v = momentum * v - lr * dW``;  ``W += v``."""

    slots = ("v",)

    def __init__(self, lr: float = 0.01, momentum: float = 0.9):
        super().__init__(lr)
        _check_rate("Momentum", "momentum", momentum)
        self.momentum = momentum

    def update(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray]) -> None:
        v = self._slots(params)["v"]
        for key in params:
            v[key] *= self.momentum
            v[key] -= self.lr * grads[key]
            _add(params, key, v[key])


class Nesterov(_Stateful):
    """Nesterov's accelerated gradient, as the book writes it, with ``v`` from before the step:
    ``W += momentum**2 * v - (1 + momentum) * lr * dW``;  then ``v = momentum * v - lr * dW``.

    (So the first step, from ``v = 0``, is ``(1 + momentum) * lr * dW``.)"""

    slots = ("v",)

    def __init__(self, lr: float = 0.01, momentum: float = 0.9):
        super().__init__(lr)
        _check_rate("Nesterov", "momentum", momentum)
        self.momentum = momentum

    def update(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray]) -> None:
        v = self._slots(params)["v"]
        m = self.momentum
        for key in params:
            g = grads[key]
            _add(params, key, m * m * v[key])
            _sub(params, key, (1 + m) * self.lr * g)
            v[key] *= m
            v[key] -= self.lr * g


class AdaGrad(_Stateful):
    """``h += dW * dW``;  ``W -= lr * dW / (sqrt(h) + 1e-7)``."""

    slots = ("h",)

    def __init__(self, lr: float = 0.01):
        super().__init__(lr)

    def update(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray]) -> None:
        h = self._slots(params)["h"]
        for key in params:
            g = grads[key]
            h[key] += g * g
            _sub(params, key, self.lr * g / (np.sqrt(h[key]) + 1e-7))


class RMSprop(_Stateful):
    """``h = decay_rate * h + (1 - decay_rate) * dW * dW``;  ``W -= lr * dW / (sqrt(h) + 1e-7)``."""

    slots = ("h",)

    def __init__(self, lr: float = 0.01, decay_rate: float = 0.99):
        super().__init__(lr)
        _check_rate("RMSprop", "decay_rate", decay_rate)
        self.decay_rate = decay_rate

    def update(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray]) -> None:
        h = self._slots(params)["h"]
        for key in params:
            g = grads[key]
            h[key] *= self.decay_rate
            h[key] += (1 - self.decay_rate) * g * g
            _sub(params, key, self.lr * g / (np.sqrt(h[key]) + 1e-7))


class Adam(_Stateful):
    """Adam with the book's bias correction folded into the step size. At step ``t``:

    ``m += (1 - beta1) * (dW - m)``,  ``v += (1 - beta2) * (dW**2 - v)``,
    ``lr_t = lr * sqrt(1 - beta2**t) / (1 - beta1**t)``,  ``W -= lr_t * m / (sqrt(v) + 1e-7)``.

    So the first step is ``lr * dW / (|dW| + 1e-7 / sqrt(1 - beta2))``: about ``lr * sign(dW)``.
    """

    slots = ("m", "v")
    counts_steps = True

    def __init__(self, lr: float = 0.001, beta1: float = 0.9, beta2: float = 0.999):
        super().__init__(lr)
        _check_rate("Adam", "beta1", beta1)
        _check_rate("Adam", "beta2", beta2)
        self.beta1, self.beta2 = beta1, beta2

    @property
    def iter(self) -> int:
        """The book's name for the step counter ``t``."""
        return self.t

    def lr_t(self, t: int) -> float:
        """The bias-corrected step size of update ``t`` (1 for the first):
        ``lr * sqrt(1 - beta2**t) / (1 - beta1**t)``."""
        return float(self.lr * np.sqrt(1.0 - self.beta2 ** t) / (1.0 - self.beta1 ** t))

    def update(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray]) -> None:
        state = self._slots(params)
        m, v = state["m"], state["v"]
        self.t += 1
        b1, b2 = self.beta1, self.beta2
        lr_t = self.lr_t(self.t)
        for key in params:
            p, g = params[key], grads[key]
            if _same_layout(p, g, m[key], v[key]):
                # On the calling thread: a dozen short NumPy calls per block, which two
                # threads slowed down (SimpleConvNet's update: 0.80 ms on one, 1.06 on two).
                _adam_slice(*(a.reshape(-1) for a in (p, g, m[key], v[key])), b1, b2, lr_t)
                continue
            m[key] += (1 - b1) * (g - m[key])
            v[key] += (1 - b2) * (g * g - v[key])
            _sub(params, key, lr_t * m[key] / (np.sqrt(v[key]) + 1e-7))


def _same_layout(p, g, *state) -> bool:
    """Whether Adam can update ``p`` in place: contiguous arrays of one shape and dtype."""
    return isinstance(p, np.ndarray) and isinstance(g, np.ndarray) and all(
        a.shape == p.shape and a.dtype == p.dtype and a.flags.c_contiguous
        for a in (p, g, *state))


_FLUSH_SUBNORMALS = True
"""Whether Adam sets ``m``'s subnormal float32 / float64 values to 0 (see
:func:`_adam_slice`; ``benchmarks/adam_subnormal.py`` turns it off to compare)."""


def _adam_slice(p, g, m, v, b1: float, b2: float, lr_t: float) -> None:
    """Adam's update of ``p``, ``m``, ``v`` in place, in blocks that stay in cache: the
    same operations in the same order as the formulas, so the same bits, but one.

    An ``m`` below the smallest normal float is set to 0. A unit that stops getting a
    gradient (a dead ReLU) has its ``m`` decay by ``beta1`` per step, through the
    subnormal floats, and arithmetic on those takes a hundred cycles or more on x86
    (after five epochs of SimpleConvNet 18% of ``W2``'s ``m`` is subnormal, and its
    update takes 4.5 ms instead of 1.3: ``benchmarks/adam_subnormal.py``). What such an
    ``m`` would move a weight by, about ``lr * 1e-38 / sqrt(v)``, no float32 weight
    above 1e-25 can register: the weights, and so every number of a run, stay the same
    (``tests/test_parallel.py`` checks it step by step against the formulas; the
    benchmark compares two 5-epoch runs)."""
    flush = _FLUSH_SUBNORMALS and m.dtype in (np.float32, np.float64)
    tiny = np.finfo(m.dtype).tiny if flush else 0
    block = 1 << 15
    for i in range(0, len(p), block):
        s = slice(i, i + block)
        pb, gb, mb, vb = p[s], g[s], m[s], v[s]
        t = np.subtract(gb, mb)  # m += (1 - b1) * (g - m)
        t *= 1 - b1
        mb += t
        if flush:
            zero_where(np.less(np.abs(mb, out=t), tiny), mb, out=mb)
        np.multiply(gb, gb, out=t)  # v += (1 - b2) * (g * g - v)
        t -= vb
        t *= 1 - b2
        vb += t
        r = np.sqrt(vb)  # p -= lr_t * m / (sqrt(v) + 1e-7)
        r += 1e-7
        np.multiply(mb, lr_t, out=t)
        t /= r
        pb -= t


_CLASSES = {"sgd": SGD, "momentum": Momentum, "nesterov": Nesterov, "adagrad": AdaGrad,
            "rmsprop": RMSprop, "adam": Adam}

OPTIMIZERS = tuple(_CLASSES)
"""The names :func:`make_optimizer` accepts (any case)."""


def optimizer_class(name: str) -> type:
    """The class called ``name`` (one of :data:`OPTIMIZERS`, any case); its ``slots``
    name the arrays of the parameters' size it keeps (what its state costs)."""
    cls = _CLASSES.get(str(name).lower())
    if cls is None:
        raise ValueError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}")
    return cls


def make_optimizer(name: str, lr: float | None = None, **kwargs):
    """The optimizer called ``name`` (one of :data:`OPTIMIZERS`, any case) with learning
    rate ``lr`` (None: the class's default) and other keyword arguments, e.g. ``momentum``."""
    cls = optimizer_class(name)
    if lr is not None:
        kwargs["lr"] = lr
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise ValueError(f"{cls.__name__}: {exc}") from None
