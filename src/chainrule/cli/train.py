"""``chainrule train``: the book's chapter-5 training run (and chapter 6's deeper nets),
with progress, files and resume."""

from __future__ import annotations

import argparse
import math
import shlex
import signal
import sys
from pathlib import Path

from chainrule.cli import CLIError, printable, printable_lines
from chainrule.data.locate import DatasetNotFoundError
from chainrule.nn.describe import describe_net
from chainrule.nn.init import INIT_NAMES
from chainrule.store.files import read_json
from chainrule.training.checkpoint import CheckpointError
from chainrule.training.config import TrainConfig
from chainrule.training.folder import RunError, SaveError
from chainrule.training.loop import TrainingDiverged
from chainrule.training.runs import Run

# argparse dest -> TrainConfig field, for the settings that decide a run's numbers
SETTINGS = {"dataset": "dataset", "net": "network", "hidden": "hidden", "activation": "activation",
            "weight_init_std": "weight_init_std", "batchnorm": "batchnorm",
            "dropout": "dropout", "weight_decay": "weight_decay", "optimizer": "optimizer",
            "lr": "lr", "batch_size": "batch_size", "eval_every": "eval_every", "seed": "seed",
            "dtype": "dtype", "eval_samples": "eval_samples"}
# TrainConfig field -> the flag that sets it, where the names differ
FLAGS = {"weight_init_std": "--init", "network": "--net"}
EXIT_INTERRUPTED, EXIT_DIVERGED, EXIT_SAVE_FAILED = 130, 1, 74  # 74: sysexits' EX_IOERR


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "train",
        help="train TwoLayerNet, a deeper MultiLayerNet or a convnet (--net): progress, "
        "curves, checkpoints, resume",
        description="Train the book's TwoLayerNet with mini-batch SGD. The defaults are "
        "chapter 5's protocol: MNIST, 784-50-10, weight_init_std 0.01, SGD lr 0.1, batches "
        "of 100 drawn with replacement, 10000 iterations, train and test accuracy once per "
        "epoch (17 evaluations), float32, seed 0. Several --hidden sizes, another "
        "--activation, --init he|xavier, --batchnorm, --dropout or --weight-decay train "
        "chapter 6's MultiLayerNet instead. Everything goes to a run folder "
        "(config.json, metrics.csv, checkpoint.npz, model.npz, summary.json, accuracy.png, "
        "loss.png). Ctrl-C, SIGTERM or SIGHUP stops after the current step and saves "
        "(exit 130, 143 or 129); a checkpoint is also written every minute; --resume "
        "continues exactly where it stopped.",
    )
    opts = p.add_argument_group("the run (defaults: the book's protocol)")
    opts.add_argument("--dataset", metavar="NAME",
                     help="mnist (default), fashion-mnist or digits")
    opts.add_argument("--data-dir", metavar="DIR", help="look for the dataset's files here first")
    net = p.add_argument_group("the network (defaults: TwoLayerNet, 784-50-10)")
    net.add_argument("--net", type=str.lower, metavar="KIND",
                     help="mlp (default: TwoLayerNet or MultiLayerNet), simple-conv (the book's "
                     "chapter-7 SimpleConvNet) or deep-conv (chapter 8's DeepConvNet); a convnet "
                     "takes its chapter's defaults: adam lr 0.001, 20 epochs, --eval-samples "
                     "1000, hidden 100 (simple-conv) or 50 with dropout 0.5 (deep-conv)")
    net.add_argument("--hidden", type=int, nargs="+", metavar="N",
                     help="hidden layer sizes, e.g. --hidden 256 128 (50)")
    net.add_argument("--activation", type=str.lower, metavar="NAME",
                     help="relu (default), sigmoid or tanh")
    net.add_argument("--init", "--weight-init-std", dest="weight_init_std", type=_init,
                     metavar="he|xavier|STD", help="initial weights: he, xavier or a standard "
                     "deviation (0.01 for TwoLayerNet; he for relu, xavier otherwise)")
    net.add_argument("--batchnorm", action="store_true", default=None,
                     help="batch normalization after each hidden Affine layer")
    net.add_argument("--dropout", type=float, metavar="P",
                     help="dropout ratio after each hidden activation (0)")
    net.add_argument("--weight-decay", type=float, metavar="L",
                     help="L2 weight decay lambda (0)")
    opts.add_argument("--optimizer", type=str.lower, metavar="NAME",
                      help="sgd (default), momentum, nesterov, adagrad, rmsprop or adam")
    opts.add_argument("--lr", type=float, metavar="LR", help="learning rate (0.1 for sgd; "
                      "else the optimizer's default: 0.001 for adam, 0.01 for the others)")
    opts.add_argument("--batch-size", type=int, metavar="N", help="mini-batch size (100)")
    length = opts.add_mutually_exclusive_group()
    length.add_argument("--iters", type=int, metavar="N", help="training steps (10000)")
    length.add_argument("--epochs", type=float, metavar="E",
                        help="training length in epochs instead of --iters")
    opts.add_argument("--eval-every", type=int, metavar="N",
                     help="evaluate after every N-th step (default: once per epoch, "
                     "train_size // batch_size)")
    opts.add_argument("--eval-samples", type=int, metavar="N",
                      help="evaluate on the first N training and test images only, and on the "
                      "whole test set at the end (the book's evaluate_sample_num_per_epoch; "
                      "default 0: the full sets; 1000 for a convnet)")
    opts.add_argument("--seed", type=int, metavar="N", help="random seed (0)")
    opts.add_argument("--dtype", choices=("float32", "float64"), help="float32 (default)")
    out = p.add_argument_group("output")
    out.add_argument("--out", metavar="DIR", help="run folder (default: runs/<timestamp>)")
    out.add_argument("--resume", metavar="DIR",
                     help="continue the run in DIR from its checkpoint (with --iters or "
                     "--epochs: to a new length)")
    out.add_argument("-q", "--quiet", action="store_true",
                     help="no progress bar and no per-epoch lines")
    out.add_argument("--no-plot", action="store_true", help="do not draw accuracy.png, loss.png")
    out.add_argument("--checkpoint-every", type=float, default=60.0, metavar="SECONDS",
                     help="also save a checkpoint this long after the last one, between "
                     "evaluations (60; 0: only at evaluations)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if not (math.isfinite(args.checkpoint_every) and args.checkpoint_every >= 0):
        raise CLIError(f"--checkpoint-every must be a number of seconds >= 0, got "
                       f"{args.checkpoint_every}")
    try:
        if args.resume:
            session = Run.resume(_check_resume(args), iters=args.iters, epochs=args.epochs,
                                 data_dir=args.data_dir)
        else:
            session = Run.create(_config(args), args.out, data_dir=args.data_dir)
    except SaveError as exc:  # a full disk before the run could start
        print(f"chainrule train: error: {printable_lines(exc)}", file=sys.stderr)
        return EXIT_SAVE_FAILED
    except (RunError, CheckpointError) as exc:
        raise CLIError(str(exc)) from None
    except ValueError as exc:
        raise CLIError(_flag_names(str(exc))) from None
    except MemoryError:  # what the size check did not foresee
        raise CLIError("not enough memory for this network and data; try a smaller "
                       "--hidden or --batch-size") from None
    except (OSError, ImportError) as exc:  # the dataset is missing or unreadable
        message = str(exc)
        if isinstance(exc, DatasetNotFoundError):  # its hint, said the command line's way
            message += "\nFrom the command line: chainrule train --dataset digits"
        raise CLIError(message) from None
    return _train(session, args)


def _init(text: str) -> float | str:
    """``--init``: a standard deviation, or a name checked by TrainConfig."""
    try:
        return float(text)
    except ValueError:
        return text.lower()


def _config(args: argparse.Namespace):
    given = {field: getattr(args, flag) for flag, field in SETTINGS.items()
             if getattr(args, flag) is not None}
    if args.iters is not None:
        given["iters"] = args.iters
    if args.epochs is not None:
        given["epochs"] = args.epochs
    return TrainConfig.for_network(**given).resolved()


def _check_resume(args: argparse.Namespace) -> Path:
    """The run folder; a flag that contradicts the run's config is an error."""
    path = Path(args.resume)
    if args.out is not None and Path(args.out).resolve() != path.resolve():
        raise CLIError("--out cannot be used with --resume: a run continues in its own folder")
    try:
        saved = read_json(path / "config.json", expect=dict, follow=False)
        recorded_config = TrainConfig.from_dict(saved)
    except (OSError, ValueError, TypeError) as exc:
        raise CLIError(f"{path} is not a readable run folder ({exc})") from None
    for flag, field in SETTINGS.items():
        value = getattr(args, flag)
        if value is None:
            continue
        recorded = (saved.get("evaluate_every") if field == "eval_every"
                    else getattr(recorded_config, field))
        if field == "hidden":  # --hidden 50 is the 50 of an older run
            value, recorded = (" ".join(map(str, sizes)) for sizes in
                               (value, recorded_config.hidden_sizes))
        elif field == "weight_init_std" and isinstance(value, str):
            value = INIT_NAMES.get(value, value)  # the book's relu / sigmoid
        if value != recorded:
            given = _flag(field) + ("" if isinstance(value, bool) else f" {_show(value)}")
            raise CLIError(f"{given} contradicts the run's {field} {_show(recorded)} "
                           f"({path / 'config.json'}); drop it to resume, or start a new run")
    return path


def _flag(field: str) -> str:
    return FLAGS.get(field, "--" + field.replace("_", "-"))


def _show(value) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return f"{value:g}" if isinstance(value, float) else str(value)


def _flag_names(message: str) -> str:
    """A TrainConfig message with the field name spelled as its flag."""
    first = message.split(" ", 1)[0]
    if first in (*SETTINGS.values(), "iters", "epochs"):
        return _flag(first) + message[len(first):]
    return message


def _describe(run) -> str:
    c, t = run.config, run.loop
    epochs = t.iters / t.iters_per_epoch
    return (f"{describe_net(run.info['net'], c.weight_init_std)} on {c.dataset} "
            f"({len(t.x_train)} train, {run.info['test_size']} test), {c.optimizer} lr "
            f"{c.lr:g}, batch {c.batch_size}, {t.iters} iterations ({epochs:.3g} epochs), "
            f"evaluated every {t.eval_every}"
            + (f" on the first {t.eval_samples} images" if t.eval_samples else "")
            + f", {c.dtype}, seed {c.seed}")


def _row_line(loop, row: dict) -> str:
    epoch = row["epoch"]
    epoch_text = f"{epoch:3.0f}" if float(epoch).is_integer() else f"{epoch:6.2f}"
    width = len(str(loop.iters))
    return (f"epoch {epoch_text} | iter {row['iteration']:>{width}} | loss {row['loss']:.4f} | "
            f"train acc {row['train_acc']:.4f} | test acc {row['test_acc']:.4f}")


class Progress:
    """A tqdm bar on a terminal (refreshed every 50 steps); one line per evaluation."""

    def __init__(self, loop, *, quiet: bool):
        self.quiet = quiet
        self.bar = None
        self.acc = ""
        if not quiet and sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=loop.iters, initial=loop.iteration, desc="train",
                            unit="it", file=sys.stderr, dynamic_ncols=True, mininterval=0.25)

    def on_progress(self, loop) -> None:
        if self.bar is None:
            return
        recent = loop.history.step_loss[-50:]
        loss = sum(recent) / len(recent) if recent else float("nan")
        self.bar.set_postfix_str(f"loss {loss:.4f}{self.acc}", refresh=False)
        self.bar.update(loop.iteration - self.bar.n)

    def on_eval(self, loop, row: dict) -> None:
        self.acc = f", train {row['train_acc']:.4f}, test {row['test_acc']:.4f}"
        if self.quiet:
            return
        line = _row_line(loop, row)
        if self.bar is not None:
            self.bar.write(line, file=sys.stdout)
        else:
            print(line, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _train(run, args: argparse.Namespace) -> int:
    loop = run.loop
    if not args.quiet:
        verb = f"resuming at iteration {loop.iteration}: " if args.resume else ""
        print(f"{verb}{_describe(run)}\nrun folder: {printable(run.path)}", flush=True)
    if loop.done and args.resume:
        print(f"{printable(run.path)} is already complete ({loop.iteration} iterations); "
              "give a larger --iters to train further")
    progress = Progress(loop, quiet=args.quiet)
    resume = printable(f"chainrule train --resume {shlex.quote(str(run.path))}")
    folder = printable(run.path)
    try:
        summary = run.train(on_eval=progress.on_eval, on_progress=progress.on_progress,
                            plots=not args.no_plot, checkpoint_every=args.checkpoint_every)
    except TrainingDiverged as exc:
        progress.close()
        at = run.checkpoint_iteration
        print(f"chainrule train: error: training diverged at iteration {exc.iteration}: "
              f"{exc.reason}; try a lower --lr (now {run.config.lr:g}).\n"
              f"The last good checkpoint (iteration {at}{', the start' if at == 0 else ''}) "
              f"is kept in {printable(run.file('checkpoint.npz'))}; metrics and plots are in "
              f"{folder}.", file=sys.stderr)
        return EXIT_DIVERGED
    except SaveError as exc:
        progress.close()
        print(f"chainrule train: error: {printable(exc)}; once it can be written, resume "
              f"with: {resume}", file=sys.stderr)
        return EXIT_SAVE_FAILED
    finally:
        progress.close()
    s = summary
    if s.status == "interrupted":
        by = f" by {s.signal}" if s.signal else ""
        print(f"interrupted{by} after {s.iteration} of {s.iters} iterations; saved the "
              f"checkpoint, model, metrics and plots in {folder}\nresume with: {resume}",
              file=sys.stderr)
        return _exit_status(s.signal)
    measured = (f"test acc {s.test_acc:.4f} on the whole test set"
                if loop.eval_samples is not None and math.isnan(s.train_acc)
                else f"train acc {s.train_acc:.4f}, test acc {s.test_acc:.4f}")
    print(f"final: {measured} (after {s.evaluated_at} iterations)")
    print(f"time: {s.wall_s:.2f} s for {s.steps} iterations, {s.it_per_s:.0f} it/s")
    print(f"wrote {folder}{'/' if not folder.endswith('/') else ''}: "
          f"{', '.join(run.files())}")
    print(f"result: status={s.status} iterations={s.iteration} train_acc={s.train_acc:.4f} "
          f"test_acc={s.test_acc:.4f} loop_s={s.wall_s:.2f} it_per_s={s.it_per_s:.0f}")
    return 0


def _exit_status(signal_name: str | None) -> int:
    """128 + the signal's number, as a shell reports a process that a signal ended:
    130 for SIGINT (Ctrl-C, and a stop asked for in code), 143 for SIGTERM, 129 for
    SIGHUP."""
    number = getattr(signal, signal_name or "", None)
    return EXIT_INTERRUPTED if number is None else 128 + int(number)
