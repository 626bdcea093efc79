"""PyTorch export of every kind of network: ``to_torch`` gives chainrule's probabilities
on 1000 real MNIST test images (within 1e-5, the same classes); ``from_torch`` gives back
every parameter and buffer bit for bit, from the module and from the ``.safetensors``
file; the written module definition loads the weights without chainrule. In training
mode the book's batch norm and dropout behave as chainrule's, gradients included."""

from __future__ import annotations

import importlib.util
import sys

import numpy as np
import pytest
from extras import need
from zoo import KINDS, mnist, network

from chainrule import MultiLayerNet
from chainrule.export import from_torch, save_torch, to_torch
from chainrule.training.checkpoint import read_model, save_model

torch = need("torch")
need("safetensors")


def probabilities(module, inputs: np.ndarray, dtype) -> np.ndarray:
    with torch.no_grad():
        return module.probabilities(torch.from_numpy(inputs.astype(dtype))).numpy()


def assert_same_network(back, net) -> None:
    assert type(back) is type(net) and back.config() == net.config()
    for group in ("params", "buffers"):
        ours = net.params if group == "params" else net.buffers()
        theirs = back.params if group == "params" else back.buffers()
        assert set(theirs) == set(ours)
        for k, a in ours.items():
            assert theirs[k].dtype == a.dtype and theirs[k].shape == a.shape, k
            assert theirs[k].tobytes() == a.tobytes(), f"{k} differs"


def load_definition(path):
    """Import a written module definition (a file this test made)."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("trained", [True, False], ids=["trained", "random-float64"])
@pytest.mark.parametrize("kind", list(KINDS))
def test_torch_gives_chainrules_probabilities_and_back(kind, trained, real_data_root, tmp_path):
    net, inputs, ours, _ = network(kind, trained, real_data_root)
    module = to_torch(net)
    assert not module.training
    theirs = probabilities(module, inputs, net.dtype)
    assert theirs.dtype == net.dtype
    assert np.max(np.abs(theirs - ours)) <= 1e-5
    np.testing.assert_array_equal(theirs.argmax(axis=1), ours.argmax(axis=1))
    assert_same_network(from_torch(module), net)

    weights, code = save_torch(net, tmp_path / "net.safetensors")
    assert code == tmp_path / "net.py"
    assert_same_network(from_torch(weights), net)
    loaded = load_definition(code).load()
    assert not loaded.training
    np.testing.assert_array_equal(probabilities(loaded, inputs[:50], net.dtype),
                                  probabilities(module, inputs[:50], net.dtype))
    assert_same_network(from_torch(loaded), net)


def test_trained_further_in_pytorch_comes_back(real_data_root, tmp_path):
    """A few SGD steps in PyTorch, then back: the chainrule network predicts as the module
    does, and its parameters are the module's."""
    net, inputs, _, labels = network("tanh-batchnorm-inverted-dropout", True, real_data_root)
    x, t, *_ = mnist(real_data_root)
    module = to_torch(net, meta={"dataset": "mnist", "class_names": list("0123456789")}).train()
    opt = torch.optim.SGD(module.parameters(), lr=0.05)
    for i in range(5):
        xb, tb = torch.from_numpy(x[i * 100:(i + 1) * 100]), torch.from_numpy(t[i * 100:(i + 1) * 100])
        opt.zero_grad()
        torch.nn.functional.cross_entropy(module(xb), tb.long()).backward()
        opt.step()
    module.eval()
    back, meta = from_torch(module, with_meta=True)
    assert not np.array_equal(back.params["W1"], net.params["W1"])  # it did learn
    np.testing.assert_array_equal(back.params["W1"], module.layers.Affine1.weight.detach().numpy().T)
    np.testing.assert_allclose(softmax_rows(back.predict(inputs)),
                               probabilities(module, inputs, np.float32), atol=1e-5)
    assert meta == {"dataset": "mnist", "class_names": list("0123456789")}
    # saved as a model file, it opens wherever chainrule opens one (the lab included)
    path = save_model(tmp_path / "further.npz", back, meta=meta)
    opened = read_model(path)
    assert opened.meta == meta and opened.net.params["W1"].tobytes() == back.params["W1"].tobytes()


def softmax_rows(s):
    e = np.exp(s - s.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_books_batch_norm_trains_as_chainrules():
    """Training mode: the same outputs, running statistics (the biased variance, the book's
    momentum) and gradients as chainrule's, in float64; both dropout conventions kept out
    (their masks come from different generators)."""
    rng = np.random.default_rng(0)
    net = MultiLayerNet(20, [16, 12], 5, "relu", use_batchnorm=True, dtype=np.float64, seed=3)
    x, t = rng.random((32, 20)), rng.integers(0, 5, 32)
    module = to_torch(net).train()
    ours = net.astype(np.float64)
    grads = ours.gradient(x, t)  # a training-mode pass: running statistics move too
    logits = module(torch.from_numpy(x))
    torch.nn.functional.cross_entropy(logits, torch.from_numpy(t)).backward()
    with net.deterministic():
        np.testing.assert_allclose(logits.detach().numpy(), net.predict(x), atol=1e-12)
    layers = dict(module.layers.named_children())
    for i in (1, 2):
        bn = layers[f"BatchNorm{i}"]
        np.testing.assert_allclose(bn.running_mean.numpy(), ours.buffers()[f"running_mean{i}"],
                                   atol=1e-14)
        np.testing.assert_allclose(bn.running_var.numpy(), ours.buffers()[f"running_var{i}"],
                                   atol=1e-14)
        np.testing.assert_allclose(bn.weight.grad.numpy(), grads[f"gamma{i}"], atol=1e-12)
    for i in (1, 2, 3):
        np.testing.assert_allclose(layers[f"Affine{i}"].weight.grad.numpy().T, grads[f"W{i}"],
                                   atol=1e-12)
        np.testing.assert_allclose(layers[f"Affine{i}"].bias.grad.numpy(), grads[f"b{i}"],
                                   atol=1e-12)


@pytest.mark.parametrize("inverted", [False, True])
def test_dropout_conventions(inverted):
    """The book's dropout keeps units unscaled in training and scales by 1 - ratio in eval;
    the inverted one is PyTorch's nn.Dropout (scaled in training, the identity in eval)."""
    net = MultiLayerNet(10, [400], 3, dropout_ratio=0.25, inverted_dropout=inverted,
                        dtype=np.float64, seed=0)
    module = to_torch(net)
    drop = module.layers.Dropout1
    assert isinstance(drop, torch.nn.Dropout) == inverted
    x = torch.ones(50, 400, dtype=torch.float64)
    assert torch.equal(drop.eval()(x), x if inverted else x * 0.75)
    kept = drop.train()(x)
    values = set(kept.unique().tolist())
    assert values == ({0.0, 1 / 0.75} if inverted else {0.0, 1.0})
    assert abs(float((kept != 0).double().mean()) - 0.75) < 0.02


def test_a_module_file_needs_no_chainrule(real_data_root, tmp_path):
    """The written definition imports torch and safetensors only."""
    net, inputs, _, _ = network("two-layer", True, real_data_root)
    _, code = save_torch(net, tmp_path / "mine.safetensors")
    text = code.read_text()
    assert "chainrule" not in "".join(line for line in text.splitlines()
                                      if line.startswith(("import", "from")))
    blocked = dict.fromkeys([m for m in sys.modules if m.split(".")[0] == "chainrule"])
    saved = {m: sys.modules.pop(m) for m in blocked}
    sys.modules["chainrule"] = None  # any import of chainrule fails
    try:
        loaded = load_definition(code).load()
    finally:
        del sys.modules["chainrule"]
        sys.modules.update(saved)
    assert loaded.chainrule["config"] == net.config()
