"""Pictures read at their full range and upright: 16-bit, floating point, palettes, alpha
and EXIF orientation, in ``chainrule predict`` and the lab's ``/api/predict`` alike (both
read through :mod:`chainrule.data.preprocess`)."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest

from chainrule.data.preprocess import ImageError, load_image, read_image

Image = pytest.importorskip("PIL.Image")
ImageOps = pytest.importorskip("PIL.ImageOps")


def encoded(img, fmt="PNG", **options) -> io.BytesIO:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **options)
    buf.seek(0)
    return buf


def with_orientation(img, orientation: int, fmt="PNG", **options) -> io.BytesIO:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encoded(img, fmt, exif=exif.tobytes(), **options)


@pytest.fixture(scope="module")
def digits(mnist_arrays) -> np.ndarray:
    """60 real MNIST test digits as 28x28 uint8 (white ink on black)."""
    _, (x_test, _) = mnist_arrays
    return np.rint(x_test[:60] * 255).astype(np.uint8).reshape(-1, 28, 28)


def test_a_16_bit_png_reads_as_its_8_bit_twin(digits):
    """A 16-bit grayscale PNG of an MNIST digit x 257 was read with 2 distinct values
    instead of 72; black on white it was "blank: no digit found"."""
    for d in digits:
        eight = read_image(encoded(Image.fromarray(d)))
        sixteen = read_image(encoded(Image.fromarray(d.astype(np.uint16) * 257)))
        np.testing.assert_array_equal(sixteen, eight)
        assert len(np.unique(sixteen)) == len(np.unique(d))
        paper = Image.fromarray(65535 - d.astype(np.uint16) * 257)
        np.testing.assert_array_equal(load_image(encoded(paper)),
                                      load_image(encoded(Image.fromarray(d))))


def test_a_floating_point_tiff_in_0_to_1_is_not_blank(digits):
    for d in digits[:10]:
        tiff = encoded(Image.fromarray(d.astype(np.float32) / 255), "TIFF")
        np.testing.assert_allclose(read_image(tiff), d.astype(np.float64), atol=1e-4)
        in_255 = encoded(Image.fromarray(d.astype(np.float32)), "TIFF")
        np.testing.assert_allclose(read_image(in_255), d.astype(np.float64), atol=1e-4)


def test_palette_alpha_and_two_level_pictures_read_like_grayscale(digits):
    d = digits[0]
    gray = read_image(encoded(Image.fromarray(d)))
    palette = Image.fromarray(d).convert("P")
    np.testing.assert_allclose(read_image(encoded(palette)), gray, atol=0.5)
    la = Image.fromarray(np.stack([d, np.full_like(d, 255)], axis=-1), "LA")
    np.testing.assert_allclose(read_image(encoded(la)), gray, atol=0.5)
    rgba = Image.fromarray(d).convert("RGBA")
    np.testing.assert_allclose(read_image(encoded(rgba)), gray, atol=0.5)
    ink = Image.fromarray(np.stack([np.zeros_like(d), d], axis=-1), "LA")  # ink in alpha
    assert load_image(encoded(ink)).max() == 1.0
    see_through = encoded(palette, transparency=palette.getpixel((0, 0)))  # the paper
    np.testing.assert_allclose(load_image(see_through), load_image(encoded(palette)), atol=1e-6)
    one = Image.fromarray(d > 127).convert("1")
    assert set(np.unique(read_image(encoded(one)))) == {0.0, 255.0}


@pytest.mark.parametrize("values, mode, message", [
    (np.array([[0, 70000]], np.int32), "I", "a 32-bit integer picture .mode I. with values "
     "from 0 to 70000; chainrule reads such pictures in 0..65535"),
    (np.array([[-1, 3]], np.int32), "I", "values from -1 to 3"),
    (np.array([[0, 300.5]], np.float32), "F", r"a floating-point picture \(mode F\) with "
     r"values from 0 to 300.5; chainrule reads such pictures in 0..1 or 0..255"),
    (np.array([[0, np.nan]], np.float32), "F", "holding NaN or infinite values"),
])
def test_values_outside_a_modes_range_are_refused_by_mode(values, mode, message):
    img = Image.fromarray(values)
    assert img.mode == mode
    with pytest.raises(ImageError, match=message):
        read_image(encoded(img, "TIFF"))


def test_cielab_reads_its_lightness_not_its_a_axis_as_alpha(digits):
    d = digits[2]
    lab = Image.fromarray(d).convert("RGB").convert("LAB")
    got = read_image(encoded(lab, "TIFF"))
    np.testing.assert_array_equal(got, np.asarray(lab.getchannel("L"), dtype=np.float64))
    assert np.corrcoef(got.ravel(), d.ravel())[0, 1] > 0.95


def test_a_mode_pillow_cannot_make_grayscale_is_refused_by_name(monkeypatch):
    picture = encoded(Image.new("RGB", (4, 4)))

    def unsupported(self, mode=None, *args, **kwargs):
        raise ValueError(f"conversion from {self.mode} to {mode} not supported")
    monkeypatch.setattr(Image.Image, "convert", unsupported)
    with pytest.raises(ImageError, match="mode RGB pictures are not read here; save it as "
                                         "grayscale or RGB"):
        read_image(picture)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_is_applied_as_viewers_do(orientation):
    a = np.random.default_rng(orientation).integers(0, 256, (5, 7)).astype(np.uint8)
    stored = with_orientation(Image.fromarray(a), orientation)
    shown = np.asarray(ImageOps.exif_transpose(Image.open(stored)), dtype=np.float64)
    stored.seek(0)
    np.testing.assert_array_equal(read_image(stored), shown)


def test_a_phone_photo_turned_by_exif_reads_upright(digits):
    """A JPEG with EXIF orientation 6 (stored a quarter turn anticlockwise) was read
    sideways: 6 of 60 predictions equalled the upright picture's."""
    for d in digits:
        upright = read_image(encoded(Image.fromarray(d), "JPEG", quality=95))
        stored = Image.fromarray(np.rot90(d, 1))  # what the camera wrote
        turned = read_image(with_orientation(stored, 6, "JPEG", quality=95))
        assert turned.shape == upright.shape
        assert np.abs(turned - upright).mean() < 3  # JPEG's own noise, both ways
        assert np.corrcoef(turned.ravel(), upright.ravel())[0, 1] > 0.98


def test_a_damaged_exif_block_leaves_the_picture_as_stored(digits, recwarn):
    """As viewers do; and Pillow's warning about it is no raw line on the console."""
    d = digits[1]
    buf = encoded(Image.fromarray(d), "PNG", exif=b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\xff")
    np.testing.assert_array_equal(read_image(buf), d.astype(np.float64))
    assert not [w for w in recwarn if "EXIF" in str(w.message)]


# ---------------------------------------------------------------- the lab's image field


def _url(buf: io.BytesIO, kind="png") -> str:
    return f"data:image/{kind};base64," + base64.b64encode(buf.getvalue()).decode()


def test_the_lab_reads_16_bit_and_turned_pictures_as_predict_does(tmp_path, mnist_arrays,
                                                                 digits):
    pytest.importorskip("starlette")
    httpx = pytest.importorskip("httpx")

    from chainrule.data.load import Data
    from chainrule.training.config import TrainConfig
    from chainrule.training.runs import Run
    from chainrule.web import create_app, serve

    (x, t), (xt, tt) = mnist_arrays
    with Run.create(TrainConfig(hidden=30, iters=300, eval_every=300), tmp_path / "run",
                    data=Data(x[:5000], t[:5000], xt[:500], tt[:500])) as run:
        run.train(plots=False, handle_sigint=False)
    app = create_app(model=str(tmp_path / "run"), runs_dir=tmp_path / "runs",
                     first_root=tmp_path / "first", download=False, plots=False)
    lab = serve(app, host="127.0.0.1", port=0, open_browser=False, background=True,
                announce=None)
    with lab, httpx.Client(base_url=lab.url, timeout=30) as client:
        def answer(url):
            got = client.post("/api/predict", json={"image": url})
            assert got.status_code == 200, got.text
            return got.json()

        for d in digits[:20]:
            upright = answer(_url(encoded(Image.fromarray(d))))
            sixteen = answer(_url(encoded(Image.fromarray(d.astype(np.uint16) * 257))))
            turned = answer(_url(with_orientation(Image.fromarray(np.rot90(d, 1)), 6)))
            for other in (sixteen, turned):
                assert other["probabilities"] == upright["probabilities"]
                assert not other.get("blank")
