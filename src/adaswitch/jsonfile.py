"""Small files that a killed writer cannot leave half-written, and reading ones that may be."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO


@contextmanager
def replacing(path: Path) -> Iterator[TextIO]:
    """A text file to write (UTF-8) that replaces ``path`` whole when the block ends: ``path`` holds
    either its old or its whole new content, even if the writer is killed or fails midway. The
    temporary file beside it has a name of its own, so two writers do not collide; the new file is
    readable by all (0644)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            yield f
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` so that ``path`` holds either its old or its whole new content."""
    with replacing(path) as f:
        f.write(text)


def write_json(path: Path, data: Any) -> None:
    """Write ``data`` as indented JSON, atomically (see :func:`write_atomic`)."""
    write_atomic(path, json.dumps(data, indent=2) + "\n")


def save_json(path: str | Path, data: Any) -> Path:
    """Write ``data`` as JSON (indent 1) to ``path``, atomically, making its folder if needed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps(data, indent=1))
    return path


def load_json(path: str | Path, what: str) -> Any:
    """The JSON in ``path``; a ValueError naming ``what`` (``"probe file"``) when the file is missing,
    unreadable or not JSON."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(f"{what} {path} does not exist") from None
    except (OSError, ValueError) as error:
        raise ValueError(f"{what} {path} cannot be read: {error}") from None


def read_json(path: Path) -> Any:
    """The JSON in ``path``; None when it is missing or unreadable (torn by a kill, say)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
