"""Optimizers: the book's update rules, exact resume from state_dict, no hidden randomness."""

import numpy as np
import pytest

from chainrule.nn.optim import (
    OPTIMIZERS,
    SGD,
    AdaGrad,
    Adam,
    Momentum,
    Nesterov,
    RMSprop,
    make_optimizer,
)

LRS = {"sgd": 0.1, "momentum": 0.05, "nesterov": 0.05, "adagrad": 0.5, "rmsprop": 0.05,
       "adam": 0.1}


def quadratic(scale):
    """``f(p) = 0.5 * sum(scale * p**2)`` and its gradient, for params W and b."""
    def grads(params):
        return {k: scale[k] * p for k, p in params.items()}

    def f(params):
        return sum(0.5 * float(np.sum(scale[k] * p * p)) for k, p in params.items())

    return f, grads


def start(dtype=np.float64):
    rng = np.random.default_rng(0)
    params = {"W": rng.standard_normal((3, 4)).astype(dtype),
              "b": rng.standard_normal(4).astype(dtype)}
    scale = {"W": rng.uniform(0.5, 2, (3, 4)).astype(dtype), "b": rng.uniform(0.5, 2, 4).astype(dtype)}
    return params, scale


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_each_optimizer_minimises_a_convex_quadratic(name):
    params, scale = start()
    f, grads = quadratic(scale)
    before = f(params)
    opt = make_optimizer(name, LRS[name])
    for _ in range(300):
        opt.update(params, grads(params))
    assert f(params) < 1e-3 * before


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_float32_stays_float32_and_arrays_are_updated_in_place(name):
    params, scale = start(np.float32)
    _, grads = quadratic(scale)
    ids = {k: id(p) for k, p in params.items()}
    opt = make_optimizer(name, np.float64(LRS[name]))  # even a NumPy float64 rate
    for _ in range(3):
        opt.update(params, grads(params))
    assert all(p.dtype == np.float32 for p in params.values())
    assert all(id(p) == ids[k] for k, p in params.items())
    assert all(a.dtype == np.float32 for k, a in opt.state_dict().items() if k != "t")


def test_adam_first_step_is_lr_times_sign_of_the_gradient():
    p = {"w": np.array([1.0, -2.0, 3.0, 0.5])}
    g = {"w": np.array([0.3, -5.0, 1e-2, -1e3])}
    before = p["w"].copy()
    Adam(lr=0.01).update(p, g)
    step = before - p["w"]
    # bias correction: no factor 1 - beta1 = 0.1 or sqrt(1 - beta2) = 0.03 in the first step
    np.testing.assert_allclose(step, 0.01 * np.sign(g["w"]), rtol=1e-3)
    # exactly lr * g / (|g| + eps / sqrt(1 - beta2)) with the book's eps = 1e-7
    np.testing.assert_allclose(step, 0.01 * g["w"] / (np.abs(g["w"]) + 1e-7 / np.sqrt(1e-3)),
                               rtol=1e-12)


def test_book_update_rules_one_step():
    g = {"w": np.array([2.0])}
    for opt, expected in [
        (SGD(lr=0.1), 1 - 0.2),
        (Momentum(lr=0.1, momentum=0.9), 1 - 0.2),
        (Nesterov(lr=0.1, momentum=0.9), 1 - 1.9 * 0.2),  # the book's 0.62
        (AdaGrad(lr=0.1), 1 - 0.1 * 2 / (2 + 1e-7)),
        (RMSprop(lr=0.1, decay_rate=0.99), 1 - 0.1 * 2 / (np.sqrt(0.01 * 4) + 1e-7)),
    ]:
        p = {"w": np.array([1.0])}
        opt.update(p, g)
        assert p["w"][0] == pytest.approx(expected, rel=1e-12), type(opt).__name__
    p, m = {"w": np.array([1.0])}, Momentum(lr=0.1, momentum=0.9)
    m.update(p, g)
    m.update(p, g)  # v = 0.9 * -0.2 - 0.2
    assert p["w"][0] == pytest.approx(1 - 0.2 - 0.38)


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_state_dict_round_trip_continues_bit_for_bit(name, tmp_path):
    params, scale = start(np.float32)
    _, grads = quadratic(scale)
    opt = make_optimizer(name, LRS[name] / 10)
    for _ in range(5):
        opt.update(params, grads(params))
    # save to an .npz as a checkpoint does (no pickle), then resume in a fresh optimizer
    np.savez(tmp_path / "opt.npz", **opt.state_dict())
    np.savez(tmp_path / "params.npz", **params)
    with np.load(tmp_path / "opt.npz", allow_pickle=False) as f:
        state = {k: f[k] for k in f.files}
    with np.load(tmp_path / "params.npz", allow_pickle=False) as f:
        resumed_params = {k: f[k] for k in f.files}
    resumed = make_optimizer(name, LRS[name] / 10)
    resumed.load_state_dict(state)
    for _ in range(5):
        opt.update(params, grads(params))
        resumed.update(resumed_params, grads(resumed_params))
    for k in params:
        np.testing.assert_array_equal(resumed_params[k], params[k])
    if name == "adam":
        assert state["t"].shape == () and int(state["t"]) == 5 and resumed.t == 10


def test_state_dict_is_a_copy_and_keys_name_slot_and_param():
    params, scale = start()
    _, grads = quadratic(scale)
    opt = Adam()
    assert opt.state_dict() == {"t": np.array(0)}
    opt.update(params, grads(params))
    state = opt.state_dict()
    assert sorted(state) == ["m/W", "m/b", "t", "v/W", "v/b"]
    state["m/W"][...] = 99
    assert not np.any(opt.state_dict()["m/W"] == 99)
    assert sorted(Momentum().state_dict()) == []  # no state before the first update


def test_load_state_dict_rejects_foreign_state():
    params, scale = start()
    _, grads = quadratic(scale)
    with pytest.raises(ValueError, match="Momentum: unexpected state entry 'h/W'"):
        Momentum().load_state_dict({"h/W": np.zeros((3, 4))})
    with pytest.raises(ValueError, match="no step counter"):
        Adam().load_state_dict({"m/W": np.zeros((3, 4)), "v/W": np.zeros((3, 4))})
    opt = AdaGrad()
    opt.load_state_dict({"h/W": np.zeros((3, 4)), "h/c": np.zeros(4)})
    with pytest.raises(ValueError, match=r"AdaGrad: the loaded state is for parameters \['W', 'c'\]"):
        opt.update(params, grads(params))
    opt.load_state_dict({"h/W": np.zeros((3, 4)), "h/b": np.zeros(5)})
    with pytest.raises(ValueError, match=r"state h/b is float64 \(5,\), the parameter float64 \(4,\)"):
        opt.update(params, grads(params))


def test_make_optimizer_names_and_errors():
    assert OPTIMIZERS == ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam")
    assert isinstance(make_optimizer("Adam"), Adam) and make_optimizer("adam").lr == 0.001
    assert make_optimizer("momentum", 0.5, momentum=0.5).momentum == 0.5
    assert make_optimizer("rmsprop").decay_rate == 0.99
    with pytest.raises(ValueError, match="unknown optimizer 'lbfgs'; choose one of sgd, momentum"):
        make_optimizer("lbfgs")
    with pytest.raises(ValueError, match="learning rate must be a finite number > 0"):
        make_optimizer("adam", -1)
    with pytest.raises(ValueError, match=r"Adam: beta2 must be in \[0, 1\)"):
        Adam(beta2=1.0)
    with pytest.raises(ValueError, match="Momentum"):
        make_optimizer("momentum", 0.1, beta1=0.9)


@pytest.mark.parametrize("name", OPTIMIZERS)
@pytest.mark.parametrize("lr", [float("inf"), float("nan"), 0.0, -1.0])
def test_every_optimizer_refuses_a_rate_that_is_not_finite_and_positive(name, lr):
    """SGD(lr=inf) was accepted while Momentum and the others refused it."""
    with pytest.raises(ValueError, match=f"learning rate must be a finite number > 0, got {lr}"):
        make_optimizer(name, lr)


def test_no_global_random_state_is_used():
    state = np.random.get_state()[1].copy()
    params, scale = start()
    _, grads = quadratic(scale)
    for name in OPTIMIZERS:
        make_optimizer(name).update(params, grads(params))
    np.testing.assert_array_equal(np.random.get_state()[1], state)


# The book's update rules (chapter 6), one step at a time on Python floats: the
# reference the optimizers are compared with, on floats and on arrays.
def book_step(name, w, g, state, t):
    if name == "sgd":
        return w - 0.1 * g
    if name == "momentum":
        state["v"] = 0.9 * state.get("v", 0.0) - 0.1 * g
        return w + state["v"]
    if name == "nesterov":  # the old v moves w, then v is updated
        v = state.get("v", 0.0)
        state["v"] = 0.9 * v - 0.1 * g
        return w + 0.81 * v - 1.9 * 0.1 * g
    if name == "adagrad":
        state["h"] = state.get("h", 0.0) + g * g
        return w - 0.1 * g / (state["h"] ** 0.5 + 1e-7)
    if name == "rmsprop":
        state["h"] = 0.99 * state.get("h", 0.0) + 0.01 * g * g
        return w - 0.1 * g / (state["h"] ** 0.5 + 1e-7)
    m, v = state.get("m", 0.0), state.get("v", 0.0)  # adam, bias correction in the rate
    state["m"], state["v"] = m + 0.1 * (g - m), v + 0.001 * (g * g - v)
    lr_t = 0.1 * (1 - 0.999 ** t) ** 0.5 / (1 - 0.9 ** t)
    return w - lr_t * state["m"] / (state["v"] ** 0.5 + 1e-7)


def df(x, y):
    """The gradient of the book's ``f(x, y) = x**2 / 20 + y**2`` (optimizer_compare_naive)."""
    return x / 10.0, 2.0 * y


@pytest.mark.parametrize("name", OPTIMIZERS)
@pytest.mark.parametrize("kind", ["float", "array", "float32"])
def test_book_update_on_floats_and_arrays(name, kind):
    wrap = {"float": float, "array": lambda v: np.array([v]),
            "float32": lambda v: np.array([v], dtype=np.float32)}[kind]
    opt = make_optimizer(name, 0.1)
    params = {"x": wrap(-7.0), "y": wrap(2.0)}
    held = dict(params)  # what a layer holding the arrays sees
    ref, states = {"x": -7.0, "y": 2.0}, {"x": {}, "y": {}}
    for t in range(1, 8):
        g = dict(zip("xy", df(float(np.ravel(params["x"])[0]), float(np.ravel(params["y"])[0])),
                     strict=True))
        opt.update(params, {k: wrap(v) for k, v in g.items()})
        gr = dict(zip("xy", df(ref["x"], ref["y"]), strict=True))
        ref = {k: book_step(name, ref[k], gr[k], states[k], t) for k in ref}
        for k in ref:
            got = np.ravel(params[k])[0]
            assert got == pytest.approx(ref[k], rel=1e-5 if kind == "float32" else 1e-12), (t, k)
    if kind == "float":
        assert all(np.ndim(p) == 0 for p in params.values())  # still numbers
    else:
        assert all(held[k] is params[k] for k in params)  # arrays changed in place
        assert all(p.dtype == wrap(0.0).dtype for p in params.values())
        assert all(a.dtype == wrap(0.0).dtype for k, a in opt.state_dict().items() if k != "t")


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_float_params_state_round_trips(name):
    opt, params = make_optimizer(name, 0.1), {"x": -7.0, "y": 2.0}
    opt.update(params, dict(zip("xy", df(params["x"], params["y"]), strict=True)))
    again = make_optimizer(name, 0.1)
    again.load_state_dict(opt.state_dict())
    twin = dict(params)
    for o, p in ((opt, params), (again, twin)):
        o.update(p, dict(zip("xy", df(p["x"], p["y"]), strict=True)))
    assert twin == params
    if name != "sgd":  # an int parameter gets float64 state, and is updated as a number
        ints = {"x": 3}
        make_optimizer(name, 0.1).update(ints, {"x": 1.0})
        assert isinstance(ints["x"], (float, np.floating)) and ints["x"] < 3
