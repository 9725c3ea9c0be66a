"""Files named on the command line: bounded reads, and writes that never leave half a file.

Reading: only regular files, at most a given size, so a FIFO cannot block iodetect and
`/dev/zero` cannot fill its memory. Writing, the way a careful editor saves: a regular file is
replaced whole (a unique temporary file beside it, created with O_EXCL, given the old file's
mode and owner, written, fsynced, then renamed over it), so any failure leaves the old file as
it was; a symlink is followed and its target replaced, the link kept; a character device or a
FIFO (`/dev/null`, `/dev/stdout`, a named pipe with a reader) is written in place, never
replaced; anything else is refused.
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import os
import stat
import sys
from typing import Any

from iodetect.errors import InputError, OutputError, UsageError
from iodetect.text import clean

KiB = 1024
MiB = 1024 * KiB
FACTS_LIMIT = 4 * MiB  # a real host's facts are about 10 KiB
SOURCE_LIMIT = 1 * MiB  # a loop_setup.py module
BENCH_LIMIT = 64 * MiB  # a long bench run with every window
MAX_INT_DIGITS = 4300  # CPython's own limit for int(str); checked here on every version

_O_BINARY = getattr(os, "O_BINARY", 0)  # Windows: no newline translation
_O_NONBLOCK = getattr(os, "O_NONBLOCK", 0)  # opening a FIFO must not wait for a writer
_O_NOCTTY = getattr(os, "O_NOCTTY", 0)
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


def _size(n: int) -> str:
    if n >= MiB:
        return f"{n / MiB:.1f} MiB"
    if n >= KiB:
        return f"{n / KiB:.0f} KiB"
    return f"{n} bytes"


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISDIR, "directory"),
        (stat.S_ISFIFO, "FIFO"),
        (stat.S_ISCHR, "character device"),
        (stat.S_ISBLK, "block device"),
        (stat.S_ISSOCK, "socket"),
    ):
        if test(mode):
            return name
    return "special file"


# --- reading ---------------------------------------------------------------------------------


def read_bytes(path: str, what: str, limit: int) -> bytes:
    """The content of a regular file of at most `limit` bytes; InputError (exit 2) otherwise."""
    shown = clean(path)
    cannot = f"cannot read {what} {shown}"
    if path == "":
        raise InputError(f"cannot read {what}: the file name is empty")
    try:
        fd = os.open(path, os.O_RDONLY | _O_BINARY | _O_NONBLOCK | _O_NOCTTY | _O_CLOEXEC)
    except OSError as exc:
        raise InputError(f"{cannot}: {exc.strerror or exc}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise InputError(
                f"{cannot}: it is a {_kind(st.st_mode)}, not a regular file (save it to a file "
                "first)"
            )
        if st.st_size > limit:
            raise InputError(
                f"{cannot}: it is {_size(st.st_size)}, more than the {_size(limit)} iodetect reads"
            )
        chunks: list[bytes] = []
        total = 0
        while total <= limit:
            chunk = os.read(fd, min(1 * MiB, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
        if total > limit:  # it grew while being read
            raise InputError(f"{cannot}: it is more than the {_size(limit)} iodetect reads")
        return b"".join(chunks)
    except OSError as exc:
        raise InputError(f"{cannot}: {exc.strerror or exc}") from None
    finally:
        os.close(fd)


def read_text(path: str, what: str, limit: int) -> str:
    """A bounded regular file as UTF-8 text (a BOM is allowed)."""
    data = read_bytes(path, what, limit)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{what} {clean(path)} is not UTF-8 text (byte {exc.start}: {exc.reason})"
        ) from None


def read_source(path: str, what: str, limit: int = SOURCE_LIMIT) -> str:
    """A bounded Python source file, decoded as Python decodes it: a UTF-8 BOM, a PEP 263
    coding line, UTF-8 otherwise. The text carries no BOM, so compile() takes it as it is."""
    import tokenize

    data = read_bytes(path, what, limit)
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError as exc:
        raise InputError(f"{what} {clean(path)}: {clean(exc.msg)}") from None
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{what} {clean(path)} is not valid {encoding} (byte {exc.start}: {exc.reason})"
        ) from None


def _bounded_int(text: str) -> int:
    digits = len(text.lstrip("-"))
    if digits > MAX_INT_DIGITS:
        raise ValueError(f"an integer of {digits} digits (at most {MAX_INT_DIGITS})")
    return int(text)


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError(f"a number out of range ({text[:40]})")
    return value


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def parse_json(text: str) -> Any:
    """Strict JSON from outside: no NaN or Infinity, no number too large to handle.

    Raises ValueError (json.JSONDecodeError among them) with a one-line message.
    """
    try:
        return json.loads(
            text,
            parse_int=_bounded_int,
            parse_float=_finite_float,
            parse_constant=_no_constant,
        )
    except RecursionError:
        raise ValueError("nested too deeply") from None


# --- writing ---------------------------------------------------------------------------------


def _special(path: str) -> bool:
    """Paths of the kernel's own (/dev/stdout, /proc/self/fd/1): written in place, never
    replaced, even when they lead to a regular file (a shell's `>` or `>>` redirect)."""
    absolute = os.path.abspath(path)
    return absolute.startswith(("/dev/", "/proc/"))


def write_text(path: str, text: str, what: str = "output") -> str:
    """Write `text` (UTF-8) to `path` safely; return the path of the file really written.

    Raises UsageError for an empty path and OutputError (exit 2) when it cannot be written;
    then a regular file that existed is left exactly as it was, and nothing else is left
    behind. Hard links to a replaced file keep the old content (as with most editors).
    """
    if path == "":
        raise UsageError(f"{what}: the file name is empty (use - for stdout)")
    shown = clean(path)
    data = text.encode("utf-8")
    try:
        st: os.stat_result | None = os.stat(path)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise OutputError(f"cannot write {shown}: {exc.strerror or exc}") from None
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise OutputError(f"cannot write {shown}: it is a directory")
    if st is not None and (not stat.S_ISREG(st.st_mode) or _special(path)):
        if not (stat.S_ISREG(st.st_mode) or stat.S_ISCHR(st.st_mode) or stat.S_ISFIFO(st.st_mode)):
            raise OutputError(f"refusing to write {shown}: it is a {_kind(st.st_mode)}")
        _write_in_place(path, data, append=stat.S_ISREG(st.st_mode))
        return path
    real = os.path.realpath(path)  # a symlink: replace its target, keep the link
    try:
        _replace(real, data, st)
    except OSError as exc:
        raise OutputError(f"cannot write {shown}: {exc.strerror or exc}") from None
    return real


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _write_in_place(path: str, data: bytes, append: bool) -> None:
    shown = clean(path)
    flags = os.O_WRONLY | _O_BINARY | _O_NOCTTY | _O_CLOEXEC | (os.O_APPEND if append else 0)
    try:
        # Non-blocking first: a FIFO without a reader fails at once (ENXIO) instead of waiting.
        fd = os.open(path, flags | _O_NONBLOCK)
    except OSError as exc:
        if _O_NONBLOCK and exc.errno == errno.ENXIO:
            raise OutputError(f"cannot write {shown}: a FIFO with no reader") from None
        raise OutputError(f"cannot write {shown}: {exc.strerror or exc}") from None
    try:
        if sys.platform != "win32":
            import fcntl

            fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~_O_NONBLOCK)
        _write_all(fd, data)
    except OSError as exc:
        raise OutputError(f"cannot write {shown}: {exc.strerror or exc}") from None
    finally:
        os.close(fd)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _replace(real: str, data: bytes, old: os.stat_result | None) -> None:
    import tempfile  # only to write a file: keeps the start-up of other commands short

    folder, name = os.path.split(real)
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=folder or ".")
    try:
        try:
            if old is not None and hasattr(os, "fchown"):
                with contextlib.suppress(OSError):  # only root may give a file away
                    os.fchown(fd, old.st_uid, old.st_gid)
            mode = stat.S_IMODE(old.st_mode) if old is not None else 0o666 & ~_umask()
            if hasattr(os, "fchmod"):
                os.fchmod(fd, mode)
            else:  # pragma: no cover - Windows
                os.chmod(tmp, mode)
            _write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, real)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _sync_folder(folder or ".")


def _sync_folder(folder: str) -> None:
    """Make the rename durable too (POSIX; a folder cannot be opened on Windows)."""
    if os.name != "posix":  # pragma: no cover - Windows
        return
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY | _O_CLOEXEC)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
