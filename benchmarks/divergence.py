"""Where the divergence rule sits: the largest step loss of legitimate and of exploding runs,
as a multiple of the first step's loss.

``TrainingLoop`` stops a run whose step loss passes ``DIVERGENCE_FACTOR`` (1000) times the
larger of its first step's loss and 1. This trains each setting below for ``--steps``
steps on MNIST (the rule switched off) and prints the peak ratio: the book's protocol,
the README's chapter-6 commands, SGD up to lr 1, Adam, and AdaGrad/RMSprop on a deeper
net (legitimate: they learn), then SGD and Adam at rates that blow up.

    CHAINRULE_DATA=../shared/datasets python benchmarks/divergence.py [--steps 400]
"""

from __future__ import annotations

import argparse
import math

import numpy as np

from chainrule.data.load import load_data
from chainrule.training.config import TrainConfig
from chainrule.training.loop import DIVERGENCE_FACTOR, TrainingLoop

TABLE = dict(activation="relu", weight_init_std="he", optimizer="adam", lr=0.001)
LEGITIMATE = {
    "book: sgd 0.1": {},
    "sgd 0.5": {"lr": 0.5},
    "sgd 1": {"lr": 1.0},
    "adam": {"optimizer": "adam"},
    "adam 0.01": {"optimizer": "adam", "lr": 0.01},
    "README 512-256 dropout 0.3": {"hidden": [512, 256], "dropout": 0.3, **TABLE},
    "README 256-128 batchnorm": {"hidden": [256, 128], "batchnorm": True, "dropout": 0.2,
                                 **TABLE},
    "README fashion 512-256": {"dataset": "fashion-mnist", "hidden": [512, 256],
                               "dropout": 0.3, **TABLE},
    "README fashion 256-128 bn": {"dataset": "fashion-mnist", "hidden": [256, 128],
                                  "batchnorm": True, "dropout": 0.2, **TABLE},
    "5x100 he sgd 0.5": {"hidden": [100] * 5, "weight_init_std": "he", "lr": 0.5},
    "5x100 he momentum 0.1": {"hidden": [100] * 5, "weight_init_std": "he",
                              "optimizer": "momentum", "lr": 0.1},
    "3x100 adagrad 0.1": {"hidden": [100] * 3, "optimizer": "adagrad", "lr": 0.1},
    "3x100 rmsprop 0.01": {"hidden": [100] * 3, "optimizer": "rmsprop", "lr": 0.01},
    "3x100 weight decay 0.1": {"hidden": [100] * 3, "weight_decay": 0.1},
}
EXPLODING = {
    "sgd 30": {"lr": 30.0},
    "sgd 100": {"lr": 100.0},
    "sgd 1e3": {"lr": 1e3},
    "sgd 1e6 (the issue's --lr 1e6)": {"lr": 1e6},
    "adam 1": {"optimizer": "adam", "lr": 1.0},
    "adam 10": {"optimizer": "adam", "lr": 10.0},
}


def peak(settings: dict, steps: int, cache: dict) -> tuple[float, float, float]:
    """(first loss, peak ratio, last loss) of ``steps`` steps, NaN steps left out."""
    dataset = settings.get("dataset", "mnist")
    if dataset not in cache:
        cache[dataset] = load_data(dataset)
    config = TrainConfig(iters=steps, eval_every=10**9, **settings)
    trainer = TrainingLoop.from_config(config, cache[dataset], divergence_factor=None,
                                  eval_samples=1)
    try:
        trainer.run(handle_sigint=False)
    except FloatingPointError:  # NaN or inf: the run stops there
        pass
    losses = np.array(trainer.history.step_loss)
    finite = losses[np.isfinite(losses)]
    first = float(losses[0])
    return first, float(finite.max()) / max(first, 1.0), float(losses[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=400)
    args = parser.parse_args()
    cache: dict = {}
    print(f"limit: {DIVERGENCE_FACTOR:g} x max(first loss, 1); {args.steps} steps each")
    worst = 0.0
    for group, runs in (("legitimate", LEGITIMATE), ("exploding", EXPLODING)):
        print(f"\n{group}:")
        for name, settings in runs.items():
            first, ratio, last = peak(settings, args.steps, cache)
            trips = ratio > DIVERGENCE_FACTOR
            print(f"  {name:32s} first {first:8.3f}  peak {ratio:10.3g} x  last {last:9.3g}"
                  f"  {'stops' if trips else 'runs'}")
            if group == "legitimate":
                worst = max(worst, ratio)
    print(f"\nlargest legitimate peak: {worst:.3g} x (margin {DIVERGENCE_FACTOR / worst:.3g})"
          if worst and not math.isnan(worst) else "")


if __name__ == "__main__":
    main()
