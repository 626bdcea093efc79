"""Writing files atomically: a crash or an error never leaves a half-written file."""

from __future__ import annotations

import contextlib
import io
import json
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "wb", *,
                suffix: str = ".tmp") -> Iterator[io.IOBase]:
    """Open a new hidden file beside ``path``; when the block ends normally it replaces
    ``path`` atomically. If the block raises, the temporary file is removed and ``path``
    is untouched."""
    path = Path(path)
    tmp = path.parent / f".{path.name}.{secrets.token_hex(4)}{suffix}"
    kwargs = {} if "b" in mode else {"encoding": "utf-8", "newline": ""}
    try:
        with open(tmp, mode.replace("w", "x"), **kwargs) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    with atomic_open(path, "w") as f:
        f.write(text)


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write ``obj`` as indented JSON to ``path`` atomically."""
    write_text(path, json.dumps(obj, indent=2) + "\n")
