"""A run folder is not trusted: links that would redirect a write, FIFOs that would hang
a read, someone's own files where a run would go, and what a killed run leaves behind.
Every case is built here, in a temporary folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading

import numpy as np
import pytest
from test_runs import CONFIG, blobs  # the same small run: 400 samples, 200 steps

from chainrule.cli import main
from chainrule.store.files import NotRegularFile, open_own, read_json
from chainrule.training.config import TrainConfig
from chainrule.training.folder import (
    CHECKPOINT,
    LOCK,
    METRICS,
    MODEL,
    RUN_FILES,
    STEP_LOSS,
    RunError,
    SaveError,
)
from chainrule.training.folder import (
    CONFIG as CONFIG_JSON,
)
from chainrule.training.runs import Run

SECRET = b"someone else's file\n"
DIGITS = ["train", "--dataset", "digits", "--no-plot", "-q", "--iters", "20"]


def target(tmp_path):
    """A file outside the run folder that a link points at."""
    path = tmp_path / "elsewhere.txt"
    path.write_bytes(SECRET)
    return path


def finished(tmp_path, name="r"):
    run = Run.create(CONFIG, tmp_path / name, data=blobs())
    run.train(plots=False, handle_sigint=False)
    return run.path


def contents(folder) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


# ---------------------------------------------------------------- links


@pytest.mark.parametrize("name", RUN_FILES)
def test_a_new_run_never_writes_through_a_link(tmp_path, name):
    """`--out DIR` with DIR/step_loss.f64 or DIR/.run.lock a link to another file wrote
    step losses (or the lock's pid) into that file."""
    elsewhere = target(tmp_path)
    out = tmp_path / "r"
    out.mkdir()
    (out / name).symlink_to(elsewhere)
    with pytest.raises(RunError, match=f"{name} is a symbolic link, not a regular file"):
        Run.create(CONFIG, out, data=blobs())
    assert elsewhere.read_bytes() == SECRET
    assert sorted(p.name for p in out.iterdir()) == [name]


@pytest.mark.parametrize("name", [STEP_LOSS, LOCK, METRICS, MODEL, CONFIG_JSON])
def test_a_resumed_run_never_reads_or_writes_through_a_link(tmp_path, name):
    elsewhere = target(tmp_path)
    path = Run.create(CONFIG, tmp_path / "r", data=blobs()).path
    (path / name).unlink(missing_ok=True)
    (path / name).symlink_to(elsewhere)
    with pytest.raises(RunError, match=f"{name} is a symbolic link, not a regular file"):
        Run.resume(path, data=blobs())
    assert elsewhere.read_bytes() == SECRET


def test_a_link_put_there_while_the_run_trains_is_not_followed(tmp_path):
    """Between the check and the write: step_loss.f64 and the lock are opened with
    O_NOFOLLOW, every other file is a new file renamed over the link."""
    elsewhere = target(tmp_path)
    run = Run.create(CONFIG, tmp_path / "r", data=blobs())
    (run.path / STEP_LOSS).unlink()
    (run.path / STEP_LOSS).symlink_to(elsewhere)
    (run.path / METRICS).symlink_to(elsewhere)
    with pytest.raises(SaveError, match=f"{STEP_LOSS} is a symbolic link, not a regular file; "
                                        r"the last good checkpoint \(iteration 0\) is kept"):
        run.train(plots=False, handle_sigint=False)
    assert elsewhere.read_bytes() == SECRET
    with pytest.raises(NotRegularFile, match="is a symbolic link"):
        open_own(run.path / STEP_LOSS, os.O_WRONLY)


def test_the_cli_refuses_a_link_in_one_line(tmp_path, capsys):
    elsewhere = target(tmp_path)
    out = tmp_path / "r"
    out.mkdir()
    (out / LOCK).symlink_to(elsewhere)
    assert main([*DIGITS, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err == (f"chainrule train: error: {out / LOCK} is a symbolic link, not a regular "
                   "file; a run folder's files must be its own: remove it, or choose another "
                   "folder\n")
    assert elsewhere.read_bytes() == SECRET


# ---------------------------------------------------------------- FIFOs and folders


def _cli(*argv, timeout=60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "chainrule", *map(str, argv)],
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this system")
@pytest.mark.parametrize("name", [STEP_LOSS, CONFIG_JSON, CHECKPOINT, LOCK])
def test_a_fifo_in_a_run_folder_is_refused_and_never_waited_on(tmp_path, name):
    """`--resume DIR` with DIR/step_loss.f64 a FIFO hung until it was killed."""
    out = tmp_path / "r"
    assert _cli(*DIGITS, "--out", out).returncode == 0
    (out / name).unlink()
    os.mkfifo(out / name)
    for argv in (["train", "--resume", out, "-q"], [*DIGITS, "--out", out]):
        done = _cli(*argv)  # a hang is a TimeoutExpired
        assert done.returncode == 2, done.stderr
        assert f"{name} is a FIFO, not a regular file" in done.stderr
        assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr


@pytest.mark.parametrize("name", [STEP_LOSS, CHECKPOINT])
def test_a_folder_where_a_run_file_should_be_is_refused(tmp_path, name):
    path = finished(tmp_path)
    (path / name).unlink()
    (path / name).mkdir()
    with pytest.raises(RunError, match=f"{name} is a folder, not a regular file"):
        Run.resume(path, data=blobs())


def test_reading_json_never_waits_on_a_fifo(tmp_path):
    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs on this system")
    os.mkfifo(tmp_path / "x.json")
    result = []
    reader = threading.Thread(target=lambda: result.append(
        pytest.raises(ValueError, read_json, tmp_path / "x.json")), daemon=True)
    reader.start()
    reader.join(10)
    assert result and "is a FIFO, not a regular file" in str(result[0].value)


# ---------------------------------------------------------------- someone's own files


@pytest.mark.parametrize("files", [
    {"config.json": '{"learning": "my own settings"}\n'},
    {"metrics.csv": "mine\n"},
    {"config.json": '{"a": 1}', "metrics.csv": "x\n"},
    {"notes.txt": "mine"},
    {"step_loss.f64": "12345678"},  # without a chainrule config.json: not a run's
])
def test_a_folder_of_someones_own_files_is_refused_and_untouched(tmp_path, capsys, files):
    """`--out DIR` with the user's own config.json or metrics.csv overwrote or removed
    them and exited 0."""
    out = tmp_path / "mine"
    out.mkdir()
    for name, text in files.items():
        (out / name).write_text(text)
    before = contents(out)
    assert main([*DIGITS, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"chainrule train: error: {out} is not empty and not a chainrule run "
                          f"(it holds {', '.join(sorted(files))}); choose an empty or a new "
                          "output folder")
    assert err.count("\n") == 1
    assert contents(out) == before and sorted(p.name for p in out.iterdir()) == sorted(files)


def test_a_run_folder_with_files_of_someone_else_and_no_checkpoint_is_refused(tmp_path):
    path = finished(tmp_path)
    (path / CHECKPOINT).unlink()
    (path / "thesis.tex").write_text("mine")
    before = contents(path)
    with pytest.raises(RunError, match="holds a chainrule run without its checkpoint.npz and "
                                       r"other files \(thesis.tex\)"):
        Run.create(CONFIG, path, data=blobs())
    assert contents(path) == before


def test_an_empty_folder_and_one_left_by_a_failed_start_are_used(tmp_path):
    """What is not someone's own: an empty folder; the lock, a chainrule config.json,
    an empty step_loss.f64 and the temporary files of a start killed at once."""
    empty = tmp_path / "empty"
    empty.mkdir()
    Run.create(CONFIG, empty, data=blobs()).close()
    assert (empty / CHECKPOINT).is_file()

    killed = tmp_path / "killed"
    killed.mkdir()
    (killed / LOCK).write_text("12345\n")
    (killed / ".config.json.0badc0de.tmp").write_text("{")
    Run.create(CONFIG, killed, data=blobs()).close()
    assert ".config.json.0badc0de.tmp" not in os.listdir(killed)

    started = Run.create(CONFIG, tmp_path / "started", data=blobs())
    started.close()
    (started.path / CHECKPOINT).unlink()  # a SIGKILL before the first checkpoint
    (started.path / ".checkpoint.npz.01234567.tmp").write_bytes(b"PK")
    again = Run.create(TrainConfig(**{**CONFIG.to_dict(), "seed": 7}), started.path,
                       data=blobs())
    again.close()
    assert json.loads((started.path / CONFIG_JSON).read_text())["seed"] == 7
    assert sorted(os.listdir(started.path)) == [LOCK, CHECKPOINT, CONFIG_JSON, STEP_LOSS]


def test_what_a_dead_run_left_is_replaced_not_kept(tmp_path):
    """A run that completed, then lost its checkpoint: its model, metrics and summary
    would be taken for the new run's."""
    path = finished(tmp_path)
    (path / CHECKPOINT).unlink()
    Run.create(CONFIG, path, data=blobs()).close()
    assert not (path / MODEL).exists() and not (path / METRICS).exists()


# ---------------------------------------------------------------- leftovers


def test_temporary_files_of_a_killed_write_are_cleaned_when_the_folder_is_opened(tmp_path):
    """A signal at the very start of a convnet run, then a SIGKILL during --resume, left
    .checkpoint.npz.<random>.tmp for good."""
    path = Run.create(CONFIG, tmp_path / "r", data=blobs()).path
    leftovers = [".checkpoint.npz.1a2b3c4d.tmp", ".metrics.csv.00000000.tmp",
                 ".model.npz.ffffffff.tmp"]
    mine = [".notes.txt.1a2b3c4d.tmp", "checkpoint.npz.1a2b3c4d.tmp", ".checkpoint.npz.tmp"]
    for name in leftovers + mine:
        (path / name).write_bytes(b"x" * 100)
    elsewhere = target(tmp_path)
    os.symlink(elsewhere, path / ".summary.json.abcdef01.tmp")  # removed, not followed
    Run.resume(path, data=blobs()).close()
    assert sorted(n for n in os.listdir(path) if n.endswith(".tmp")) == sorted(mine)
    assert elsewhere.read_bytes() == SECRET


def test_the_cli_leaves_no_temporary_file_after_a_sigkill_and_a_resume(tmp_path):
    """The whole story, with real processes: SIGKILL while the checkpoint is written
    (its temporary file made by hand at that moment), then --resume to the end."""
    out = tmp_path / "r"
    assert _cli(*DIGITS, "--out", out).returncode == 0
    (out / f".{CHECKPOINT}.5eed5eed.tmp").write_bytes(np.zeros(1000).tobytes())
    done = _cli("train", "--resume", out, "--iters", 40, "-q", "--no-plot")
    assert done.returncode == 0, done.stderr
    assert not [n for n in os.listdir(out) if n.endswith(".tmp")]


# ---------------------------------------------------------------- crafted files the fuzz found


def test_a_generator_state_that_is_not_one_is_a_run_error(tmp_path):
    """A checkpoint whose trainer rng state was a string: "internal error: TypeError:
    string indices must be integers"."""
    path = finished(tmp_path)
    with np.load(path / CHECKPOINT) as f:
        arrays = dict(f)
    trainer = json.loads(str(arrays["trainer"]))
    for bad in ({"bit_generator": "PCG64", "state": "x"},
                {"bit_generator": "PCG64", "state": {"state": "x", "inc": 1}}):
        arrays["trainer"] = np.array(json.dumps({**trainer, "rng": bad}))
        np.savez(path / CHECKPOINT, **arrays)
        with pytest.raises(RunError, match=f"{CHECKPOINT}: cannot resume from it: state: not "
                                           "a PCG64 generator's state"):
            Run.resume(path, data=blobs(), iters=300)


def test_a_data_dir_that_is_not_a_name_is_a_run_error(tmp_path):
    """config.json's data_dir a list: "internal error: TypeError: expected str, bytes or
    os.PathLike object, not list"."""
    path = finished(tmp_path)
    saved = json.loads((path / CONFIG_JSON).read_text())
    (path / CONFIG_JSON).write_text(json.dumps({**saved, "data_dir": [1, 2]}))
    with pytest.raises(RunError, match=r"config.json: data_dir must be a folder name, got "
                                       r"\[1, 2\]"):
        Run.resume(path)
