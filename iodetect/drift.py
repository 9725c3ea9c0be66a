"""Drift: a committed loop_setup.py compared with the module iodetect generates now."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path

from iodetect import files
from iodetect.errors import InputError
from iodetect.text import clean


@dataclass(frozen=True)
class Drift:
    """The outcome of a comparison: current, or the unified diff that would make it so."""

    current: bool
    name: str  # the file's name as shown, cleaned
    diff: str  # empty when current; lines from the file are escaped for a terminal


def read_module(path: Path | str, limit: int = files.SOURCE_LIMIT) -> str:
    """The committed module as it is: a regular file of at most `limit` bytes, read without
    blocking on it (files.read_bytes), decoded as UTF-8 with nothing taken away. Not
    files.read_text: it drops a byte order mark, and a module that carries one is not the bytes
    iodetect generates. InputError (exit 2) when it cannot be read."""
    shown = str(path)
    data = files.read_bytes(shown, "the module", limit)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"the module {clean(shown)} is not UTF-8 text (byte {exc.start}: {exc.reason})"
        ) from None


def compare(committed: str, generated: str, name: str) -> Drift:
    """Compare the committed text with the generated one; the diff turns the first into it."""
    label = clean(name, 300)
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
        out.append(_visible(body) + "\n")
        if not line.endswith("\n"):
            out.append("\\ No newline at end of file\n")
    return Drift(False, label, "".join(out))


def _lines(text: str) -> list[str]:
    """Lines split at "\n" only (str.splitlines also splits at form feeds and other separators)."""
    parts = text.split("\n")
    lines = [part + "\n" for part in parts[:-1]]
    return [*lines, parts[-1]] if parts[-1] else lines


def _visible(text: str) -> str:
    """A diff line with what a terminal would act on written as an escape (`\\x1b`, `\\r`,
    `\\u202e`). Not text.clean(), which drops or blanks those characters: a line that differs
    only by one of them would show as unchanged, and the diff must show what differs."""
    return "".join(c if c.isprintable() or c == "\t" else ascii(c)[1:-1] for c in text)
