"""Where the product and the diagnostics go: stdout and stderr, written so that nothing breaks.

stdout carries only the product. Writing it, a reader that went away (`| head -1`) is
PipeClosed (silent, exit 141, as a process killed by SIGPIPE), a full disk or a closed terminal
is OutputError (one line, exit 2), and a character the terminal's encoding lacks is written as
a backslash escape instead of raising. Diagnostics on stderr are cleaned of control characters
and never raise: a closed terminal must not turn a message into a traceback.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import sys
from typing import TYPE_CHECKING, Any

from iodetect.errors import OutputError, PipeClosed
from iodetect.text import clean

if TYPE_CHECKING:
    from rich.console import Console


def prepare() -> None:
    """Unencodable characters become backslash escapes on both streams (cp1252 terminals, a
    lone surrogate from a target), instead of a UnicodeEncodeError."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            with contextlib.suppress(Exception):
                reconfigure(errors="backslashreplace")


def _failed(exc: OSError) -> Exception:
    if isinstance(exc, BrokenPipeError) or exc.errno in (errno.EPIPE, errno.ECONNRESET):
        return PipeClosed()
    return OutputError(f"cannot write the output: {exc.strerror or exc}")


class Product:
    """stdout as a file for rich and for plain writes, with the errors above."""

    def write(self, text: str) -> int:
        try:
            return sys.stdout.write(text)
        except OSError as exc:
            raise _failed(exc) from None

    def flush(self) -> None:
        try:
            sys.stdout.flush()
        except OSError as exc:
            raise _failed(exc) from None

    def isatty(self) -> bool:
        try:
            return sys.stdout.isatty()
        except (OSError, ValueError):
            return False

    def fileno(self) -> int:
        return sys.stdout.fileno()

    @property
    def encoding(self) -> str:
        return getattr(sys.stdout, "encoding", None) or "utf-8"

    def __getattr__(self, name: str) -> Any:
        return getattr(sys.stdout, name)


# Spaces at the end of a line, before any colour codes that end it: rich pads table cells and
# justified lines to the width, which a log or a diff then carries as trailing spaces.
_TRAILING = r" +((?:\x1b\[[0-9;]*m)*)(?=\n)"  # compiled on first use


class Trimmed(Product):
    """stdout for rich on a pipe or a file: no line ends with a space. (On a terminal the
    padding stays: a live display overwrites with it.)"""

    def write(self, text: str) -> int:
        return super().write(re.sub(_TRAILING, r"\1", text))


class TrimmedErr:
    """stderr for rich, likewise trimmed when it is not a terminal."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text if self.isatty() else re.sub(_TRAILING, r"\1", text))

    def flush(self) -> None:
        sys.stderr.flush()

    def isatty(self) -> bool:
        try:
            return sys.stderr.isatty()
        except (OSError, ValueError):
            return False

    def __getattr__(self, name: str) -> Any:
        return getattr(sys.stderr, name)


def echo(text: str, nl: bool = True) -> None:
    """Plain product text (code, JSON) on stdout."""
    out = Product()
    out.write(text + ("\n" if nl else ""))
    out.flush()


def flush() -> None:
    """Flush stdout now, inside the error handling, not at interpreter exit."""
    Product().flush()


def console(**options: Any) -> Console:
    """A rich console on stdout for the product (reports, tables, findings)."""
    from rich.console import Console

    out = Product()
    return Console(file=out if out.isatty() else Trimmed(), **options)  # type: ignore[arg-type]


def wrap_width(console: Console) -> int | None:
    """The width to wrap lines of text to: the terminal's, or COLUMNS when it is set; None for
    a pipe or a file without COLUMNS, where a line is as long as it needs (a CI log then neither
    wraps a finding in the middle nor crops it at rich's default of 80)."""
    if console.is_terminal or os.environ.get("COLUMNS", "").strip().isdigit():
        return console.width
    return None


def err_console(**options: Any) -> Console:
    from rich.console import Console

    return Console(file=TrimmedErr(), **options)  # type: ignore[arg-type]


def note(message: str) -> None:
    """One diagnostic line on stderr, cleaned; it never raises."""
    with contextlib.suppress(OSError, ValueError):
        sys.stderr.write(clean(message, 4000) + "\n")
        sys.stderr.flush()


def discard_stdout() -> None:
    """After stdout failed: point it at the null device, so that the interpreter's last flush
    at exit has somewhere to go instead of printing a second error (or exiting 120)."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stdout.fileno())
        os.close(null)
