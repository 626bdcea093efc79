"""The datasets chainrule knows, in one table: names, classes, picture sizes, pixel range,
set sizes, and the official files with their sizes and SHA-256 (:data:`DATASETS`).

Every other module asks this one: where to find and verify the files
(:mod:`chainrule.data.locate`), how to load them (:mod:`chainrule.data.load`), what a
run's pictures look like, how many images a lab form may train on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class DataFile:
    """One official file: its name, size and SHA-256, gzipped and gunzipped."""

    name: str
    size: int
    sha256: str
    raw_size: int
    raw_sha256: str

    @property
    def raw_name(self) -> str:
        return self.name.removesuffix(".gz")


@dataclass(frozen=True)
class DatasetInfo:
    """A dataset: its classes, the shape and range of its pictures, its sets' sizes and,
    for a dataset of files, the four IDX files (train images, train labels, test
    images, test labels) and where to download them."""

    name: str
    title: str
    class_names: tuple[str, ...]
    image_shape: tuple[int, int]  # (height, width)
    pixel_max: float  # the largest raw pixel value: what normalize=True divides by
    train_size: int
    test_size: int
    files: tuple[DataFile, ...] = ()
    mirrors: tuple[str, ...] = ()
    system_dirs: tuple[str, ...] = ()
    license: str = ""
    source: str = "files"  # or "scikit-learn": bundled with a library, nothing to fetch

    @property
    def input_size(self) -> int:
        """Pixels in one picture: the inputs of a network on flat rows."""
        return self.image_shape[0] * self.image_shape[1]


DIGITS = tuple(str(d) for d in range(10))
FASHION = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
           "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")

DATASETS: dict[str, DatasetInfo] = {
    "mnist": DatasetInfo(
        "mnist", "MNIST", DIGITS, (28, 28), 255.0, 60000, 10000,
        (
            DataFile("train-images-idx3-ubyte.gz", 9912422,
                     "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
                     47040016,
                     "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"),
            DataFile("train-labels-idx1-ubyte.gz", 28881,
                     "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
                     60008,
                     "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"),
            DataFile("t10k-images-idx3-ubyte.gz", 1648877,
                     "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
                     7840016,
                     "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"),
            DataFile("t10k-labels-idx1-ubyte.gz", 4542,
                     "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
                     10008,
                     "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"),
        ),
        mirrors=(
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            "https://storage.googleapis.com/cvdf-datasets/mnist/",
            "http://yann.lecun.com/exdb/mnist/",
        ),
        license="CC BY-SA 3.0, Yann LeCun, Corinna Cortes, Christopher J.C. Burges",
    ),
    "fashion-mnist": DatasetInfo(
        "fashion-mnist", "Fashion-MNIST", FASHION, (28, 28), 255.0, 60000, 10000,
        (
            DataFile("train-images-idx3-ubyte.gz", 26421880,
                     "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
                     47040016,
                     "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888"),
            DataFile("train-labels-idx1-ubyte.gz", 29515,
                     "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
                     60008,
                     "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9"),
            DataFile("t10k-images-idx3-ubyte.gz", 4422102,
                     "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
                     7840016,
                     "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b"),
            DataFile("t10k-labels-idx1-ubyte.gz", 5148,
                     "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
                     10008,
                     "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"),
        ),
        mirrors=(
            "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
            "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
        ),
        system_dirs=("/usr/share/datasets/fashion-mnist",),
        license="MIT, Copyright (c) 2017 Zalando SE",
    ),
    "digits": DatasetInfo(
        "digits", "scikit-learn's digits", DIGITS, (8, 8), 16.0, 1438, 359,
        source="scikit-learn",
        license="CC BY 4.0, E. Alpaydin and C. Kaynak (UCI), bundled with scikit-learn",
    ),
}
"""Every dataset chainrule knows, by name. ``"digits"`` (scikit-learn's bundled 8x8 digits,
split 80/20 with :data:`DIGITS_SEED`) has no files to find or download."""

DATASET_NAMES = tuple(DATASETS)
DIGITS_SEED = 0
DIGITS_TEST_FRACTION = 0.2


def dataset_info(name: str) -> DatasetInfo:
    """The dataset called ``name``; a ``ValueError`` naming the choices otherwise."""
    if not isinstance(name, str) or name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(DATASET_NAMES)}")
    return DATASETS[name]


def class_names(dataset: str = "mnist") -> tuple[str, ...]:
    """The names of the ten classes, indexed by label."""
    return dataset_info(dataset).class_names


def pixel_max(dataset: str = "mnist") -> float:
    """The largest raw pixel value: what ``normalize=True`` divides by."""
    return dataset_info(dataset).pixel_max


def image_shape(dataset: str, input_size: int) -> list[int] | None:
    """``[height, width]`` of the pictures behind ``input_size`` inputs: ``dataset``'s
    when they fit, else a square, else None."""
    info = DATASETS.get(dataset)
    if info is not None and info.input_size == input_size:
        return list(info.image_shape)
    side = math.isqrt(input_size)
    return [side, side] if side * side == input_size else None
