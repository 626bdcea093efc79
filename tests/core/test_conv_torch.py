"""Convolution and Pooling against PyTorch (an independent reference beside the direct
loops of ``test_conv.py``): skipped where torch is not installed, failed under CI, where
``pip install '.[test]'`` brings it (with the export extra)."""

import numpy as np
from extras import need
from hypothesis import assume, given, settings
from test_conv import fits, geometry

from chainrule.core.conv import Convolution, Pooling

torch = need("torch")
F = torch.nn.functional


@settings(max_examples=30, deadline=None)
@given(geometry)
def test_against_torch(g):
    assume(fits(g))
    rng = np.random.default_rng(g["seed"])
    x = rng.standard_normal((g["n"], g["c"], g["h"], g["w"]))
    W = rng.standard_normal((g["fn"], g["c"], g["fh"], g["fw"]))
    b = rng.standard_normal(g["fn"])
    tx, tW, tb = (torch.tensor(a, requires_grad=True) for a in (x, W, b))
    conv = Convolution(W, b, g["stride"], g["pad"])
    out = conv.forward(x)
    tout = F.conv2d(tx, tW, tb, stride=g["stride"], padding=g["pad"])
    np.testing.assert_allclose(out, tout.detach().numpy(), atol=1e-10)
    dout = rng.standard_normal(out.shape)
    tout.backward(torch.tensor(dout))
    np.testing.assert_allclose(conv.backward(dout), tx.grad.numpy(), atol=1e-10)
    np.testing.assert_allclose(conv.dW, tW.grad.numpy(), atol=1e-10)
    np.testing.assert_allclose(conv.db, tb.grad.numpy(), atol=1e-10)

    if 2 * g["pad"] > min(g["fh"], g["fw"]):  # torch's limit on pooling's padding
        return
    tx = torch.tensor(x, requires_grad=True)
    pool = Pooling(g["fh"], g["fw"], g["stride"], g["pad"])
    out = pool.forward(x)
    tout = F.max_pool2d(tx, (g["fh"], g["fw"]), g["stride"], g["pad"])
    np.testing.assert_array_equal(out, tout.detach().numpy())
    dout = rng.standard_normal(out.shape)
    tout.backward(torch.tensor(dout))
    np.testing.assert_allclose(pool.backward(dout), tx.grad.numpy(), atol=1e-12)
