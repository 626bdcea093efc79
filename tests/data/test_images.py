import numpy as np
import pytest

from chainrule.data.images import ScaledImages
from chainrule.nn.two_layer import TwoLayerNet
from chainrule.training.loop import TrainingLoop


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_rows_are_bit_identical_to_normalizing_everything(dtype):
    raw = np.random.default_rng(0).integers(0, 256, (50, 12), dtype=np.uint8)
    full = raw.astype(dtype)
    full /= dtype(255)  # what load_mnist(normalize=True) does
    images = ScaledImages(raw, dtype)
    assert images.shape == (50, 12) and len(images) == 50 and images.dtype == dtype
    idx = np.array([3, 3, 49, 0])
    for key in (idx, slice(10, 20), 7):
        got = images[key]
        assert got.dtype == dtype
        assert got.tobytes() == full[key].tobytes()
    assert np.asarray(images).tobytes() == full.tobytes()
    assert raw.max() > 1  # the raw array is untouched


def test_training_on_scaled_images_equals_training_on_floats():
    rng = np.random.default_rng(1)
    raw = rng.integers(0, 256, (300, 20), dtype=np.uint8)
    t = rng.integers(0, 3, 300)
    floats = raw.astype(np.float32)
    floats /= np.float32(255)

    def history(x):
        net = TwoLayerNet(20, 8, 3, weight_init_std=0.1, dtype=np.float32, seed=0)
        trainer = TrainingLoop(net, _sgd(), x, t, x[:50], t[:50], batch_size=10, iters=120,
                          eval_every=30, seed=0)
        return trainer.run(handle_sigint=False).rows()

    assert history(ScaledImages(raw, np.float32)) == history(floats)


def _sgd():
    from chainrule import SGD

    return SGD(lr=0.1)
