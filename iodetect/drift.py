"""Drift: a committed loop_setup.py compared with the module iodetect generates now."""

from __future__ import annotations

import difflib
import os
import stat
from dataclasses import dataclass
from pathlib import Path

# A generated module is a few kilobytes; anything far larger is not one, and is not read whole.
MAX_MODULE_BYTES = 1 << 20


class DriftError(Exception):
    """The committed module cannot be read: missing, not a regular file, too large, not UTF-8."""


@dataclass(frozen=True)
class Drift:
    """The outcome of a comparison: current, or the unified diff that would make it so."""

    current: bool
    name: str  # the file's name as shown, sanitised
    diff: str  # empty when current; lines from the file are sanitised for a terminal


def read_module(path: Path, limit: int = MAX_MODULE_BYTES) -> str:
    """The text of a regular file of at most `limit` bytes, read without blocking on it."""
    # O_NONBLOCK: opening a FIFO must not wait for a writer; fstat then refuses it.
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    shown = _sanitise(str(path))
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise DriftError(f"no such file: {shown}") from None
    except OSError as exc:
        raise DriftError(f"cannot read {shown}: {exc.strerror or exc}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise DriftError(f"{shown} is not a regular file")
        if info.st_size > limit:
            raise DriftError(f"{shown} is larger than {limit} bytes: not a generated module")
        chunks: list[bytes] = []
        size = 0
        while size <= limit:  # the file may grow while it is read: stop one byte past the limit
            chunk = os.read(fd, limit + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as exc:
        raise DriftError(f"cannot read {shown}: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    if size > limit:
        raise DriftError(f"{shown} is larger than {limit} bytes: not a generated module")
    try:
        return b"".join(chunks).decode("utf-8")
    except UnicodeDecodeError:
        raise DriftError(f"{shown} is not UTF-8 text") from None


def compare(committed: str, generated: str, name: str) -> Drift:
    """Compare the committed text with the generated one; the diff turns the first into it."""
    label = _sanitise(name)
    if committed == generated:
        return Drift(True, label, "")
    lines = difflib.unified_diff(
        _lines(committed),
        _lines(generated),
        fromfile=f"{label} (committed)",
        tofile=f"{label} (iodetect snippet now)",
    )
    out = []
    for line in lines:
        body = line[:-1] if line.endswith("\n") else line  # a "\r" left is shown, escaped
        out.append(_sanitise(body) + "\n")
        if not line.endswith("\n"):
            out.append("\\ No newline at end of file\n")
    return Drift(False, label, "".join(out))


def _lines(text: str) -> list[str]:
    """Lines split at "\n" only (str.splitlines also splits at form feeds and other separators)."""
    parts = text.split("\n")
    lines = [part + "\n" for part in parts[:-1]]
    return [*lines, parts[-1]] if parts[-1] else lines


def _sanitise(text: str) -> str:
    """Escape what a terminal would act on (escape sequences, carriage returns, bidi marks)."""
    return "".join(c if c.isprintable() or c == "\t" else ascii(c)[1:-1] for c in text)
