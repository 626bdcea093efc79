"""Making a user's picture look like an MNIST digit."""

from __future__ import annotations

import numpy as np
import pytest

from chainrule.data.preprocess import ImageError, load_image, prepare_image, read_image

Image = pytest.importorskip("PIL.Image")


def digit(size=28) -> np.ndarray:
    """A white '1'-like bar with a foot on black, 0..255."""
    a = np.zeros((size, size))
    a[size // 5: size - size // 5, size // 2 - size // 14: size // 2 + size // 14] = 255
    a[size - size // 5 - 2: size - size // 5, size // 3: 2 * size // 3] = 255
    return a


def test_a_28x28_mnist_like_picture_is_only_scaled():
    a = digit()
    assert np.array_equal(prepare_image(a), a / 255)


def test_dark_ink_on_light_paper_is_inverted():
    assert np.allclose(prepare_image(255 - digit()), digit() / 255)
    with pytest.raises(ImageError):  # not inverted, the ink is darker than the paper
        prepare_image(255 - digit(), invert=False)


def test_large_picture_is_fitted_into_20x20_and_centred_by_mass():
    big = np.zeros((200, 120))
    big[20:60, 10:30] = 255  # off-centre blob, taller than wide
    out = prepare_image(big)
    assert out.shape == (28, 28) and out.max() == pytest.approx(1, abs=0.05)
    rows, cols = np.nonzero(out > 0.5)
    assert rows.max() - rows.min() + 1 in (19, 20, 21)  # the long side fills the box
    mass = out.sum()
    cy = (out.sum(axis=1) @ np.arange(28)) / mass
    cx = (out.sum(axis=0) @ np.arange(28)) / mass
    assert abs(cy - 13.5) <= 0.6 and abs(cx - 13.5) <= 0.6


def test_blank_picture_is_an_error():
    with pytest.raises(ImageError, match="blank"):
        prepare_image(np.full((40, 40), 255.0))


def test_files_gray_rgb_and_transparent(tmp_path):
    a = digit(56).astype(np.uint8)
    Image.fromarray(a).save(tmp_path / "g.png")
    Image.fromarray(np.stack([255 - a] * 3, axis=-1)).save(tmp_path / "rgb.jpg", quality=95)
    rgba = np.zeros((56, 56, 4), np.uint8)
    rgba[..., 3] = a  # black ink drawn on a transparent canvas
    Image.fromarray(rgba).save(tmp_path / "t.png")
    ref = load_image(tmp_path / "g.png")
    for name in ("rgb.jpg", "t.png"):
        got = load_image(tmp_path / name)
        assert got.shape == (28, 28)
        assert np.abs(got - ref).max() < 0.2, name
    assert read_image(tmp_path / "g.png").shape == (56, 56)


def test_not_a_picture(tmp_path):
    (tmp_path / "x.png").write_text("hello")
    with pytest.raises(ImageError, match="x.png"):
        load_image(tmp_path / "x.png")


def test_ink_extent_says_how_much_of_the_picture_the_digit_spans():
    """A dot on a 280-pixel pad spans 8% of it; prepare_image still blows it up to the
    digit's full 20-pixel box, which is why the lab says such a drawing is too small."""
    from chainrule.data.preprocess import ink_extent

    yy, xx = np.mgrid[:280, :280]
    dot = np.where((yy - 140) ** 2 + (xx - 100) ** 2 <= 11 ** 2, 255.0, 0.0)
    assert ink_extent(dot) == pytest.approx(23 / 280)
    assert ink_extent(255 - dot) == ink_extent(dot)  # dark ink on paper: the same
    rows, cols = np.nonzero(prepare_image(dot) > 0.5)
    assert rows.max() - rows.min() + 1 >= 19  # the disc fills the box
    big = np.zeros((200, 120))
    big[20:180, 10:30] = 255
    assert ink_extent(big) == pytest.approx(160 / 200)
    assert ink_extent(np.zeros((50, 50))) == 0.0 and ink_extent(np.full((9, 9), 255.0)) == 0.0
    assert ink_extent(digit()) == pytest.approx(len(range(28 // 5, 28 - 28 // 5)) / 28)
    with pytest.raises(ImageError):
        ink_extent(np.zeros(5))
