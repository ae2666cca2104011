"""Writing files so that a crash never leaves a half-written or lost file behind."""

from __future__ import annotations

import contextlib
import glob
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO


@contextlib.contextmanager
def atomic_text_writer(path: Path, mode: int = 0o644) -> Iterator[TextIO]:
    """Write `path` through a temporary file in the same folder, renamed into place on success.

    On an exception (Ctrl-C included) the temporary file is removed and `path` is untouched.
    mode: permission bits of the finished file.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=_temp_prefix(path), suffix=_TEMP_SUFFIX)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


_TEMP_SUFFIX = ".tmp"
_TEMP_RANDOM = re.compile(r"[a-z0-9_]{8}")
"""What `tempfile.mkstemp` puts between prefix and suffix: 8 of its name characters."""


def _temp_prefix(path: Path) -> str:
    return f".{path.name}."


def leftover_temp_files(path: Path) -> list[Path]:
    """The temporary files `atomic_text_writer(path)` made and a dead writer left behind.

    Only names made for `path` itself match: `.a.json.x1y2z3w4.tmp` is `a.json`'s, never
    `.a.json.b.json.x1y2z3w4.tmp` (the file `a.json.b.json`'s).
    """
    prefix = _temp_prefix(path)
    return [
        leftover
        for leftover in path.parent.glob(f"{glob.escape(prefix)}*{_TEMP_SUFFIX}")
        if _TEMP_RANDOM.fullmatch(leftover.name[len(prefix) : -len(_TEMP_SUFFIX)])
    ]


def _fsync_dir(directory: Path) -> None:
    """Make a rename in `directory` durable (a no-op where folders cannot be opened)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
