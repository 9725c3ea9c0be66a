"""Collected facts: the files an engine (Ansible, Salt, a Kubernetes Job) gathered, one per target.

Accepted, per file: a facts document (`iodetect report --json`, or the output of
`iodetect probe-script`), a fleet document (its targets, by name), or an engine's own result
record that holds the probe's output in `stdout` (what `ansible -m script --tree DIR` writes,
or a registered result saved as JSON). A target's name is the file's name without `.json`, the
host folder for a file in a subfolder (Ansible's `fetch` writes DEST/HOST/PATH), or the `name`
the document carries.

Nothing here trusts a file: each is read only if it is a regular file, at most MAX_FILE_BYTES,
without blocking on a FIFO; names and messages are cleaned before anyone sees them; and a file
that cannot be read or understood is an error for its target, not for the run.
"""

from __future__ import annotations

import codecs
import itertools
import json
import os
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from iodetect import model
from iodetect.fleet.document import (
    FLEET_KIND,
    NAME_LIMIT,
    FleetError,
    Observation,
    Source,
    observations_from_dict,
    read_facts,
    unique_names,
)
from iodetect.fleet.text import clean

# A facts document is a few kilobytes; a fleet document holds one per target.
MAX_FILE_BYTES = 16 << 20
MAX_TOTAL_BYTES = 256 << 20
MAX_FILES = 10_000
MAX_DEPTH = 4  # DEST/HOST/path/to/file: Ansible's fetch nests the source path under the host
STRAY_LINES = 200  # lines searched for the document when a file holds more than JSON


class CollectError(ValueError):
    """A collected file that cannot be read or understood. One line, for its target."""


class NoInput(ValueError):
    """Nothing to read: a path named on the command line is missing, or a folder is empty."""


@dataclass(frozen=True)
class _File:
    path: Path
    name: str  # the target's name when the document does not give one
    nested: bool  # found inside a folder: opened without following a symbolic link


def collect(paths: Sequence[str | Path]) -> tuple[Observation, ...]:
    """The observations in these files and folders, in order; names made unique.

    Raises NoInput when a named path does not exist or nothing is found; every other problem
    is an observation with an error, named after the file.
    """
    found: list[Observation] = []
    total = 0
    for item in _files(paths):
        if isinstance(item, Observation):
            found.append(item)
            continue
        shown = clean(str(item.path))
        if total > MAX_TOTAL_BYTES:
            found.append(
                _failed(item, f"not read: the files exceed {MAX_TOTAL_BYTES >> 20} MiB in all")
            )
            continue
        try:
            data, size = _read(item.path, item.nested)
            total += size
            found.extend(interpret(data, item.name, shown))
        except CollectError as exc:
            found.append(_failed(item, str(exc)))
    if not found:
        raise NoInput("no collected files found in " + ", ".join(clean(str(p)) for p in paths))
    return _unique(found)


def _unique(found: Sequence[Observation]) -> tuple[Observation, ...]:
    names = unique_names([o.name for o in found])
    return tuple(
        o if o.name == n else Observation(n, o.source, o.facts, o.error, o.seconds, o.check)
        for o, n in zip(found, names)
    )


def read_document(path: str | Path) -> tuple[Observation, ...]:
    """The observations of one file named by the user; CollectError when it cannot be read."""
    p = Path(path)
    data, _ = _read(p, nested=False)
    return _unique(interpret(data, target_name(p.name), clean(str(p))))


def _failed(item: _File, message: str) -> Observation:
    return Observation(item.name, Source("file", clean(str(item.path))), error=message)


def target_name(filename: str) -> str:
    """A file's name as a target's name: without `.json` (web1.json -> web1), cleaned."""
    name = filename[:-5] if filename.lower().endswith(".json") and len(filename) > 5 else filename
    return clean(name, NAME_LIMIT) or "(unnamed)"


# --- finding the files -------------------------------------------------------------------------


def _files(paths: Sequence[str | Path]) -> Iterator[_File | Observation]:
    count = 0
    for raw in paths:
        path = Path(raw)
        try:
            info = path.stat()
        except FileNotFoundError:
            raise NoInput(f"no such file or folder: {clean(str(path))}") from None
        except OSError as exc:
            raise NoInput(f"cannot read {clean(str(path))}: {exc.strerror or exc}") from None
        if stat.S_ISDIR(info.st_mode):
            before = count
            for item in _walk(path, path, 0):
                count += 1
                if count > MAX_FILES:
                    yield Observation(
                        target_name(path.name),
                        Source("file", clean(str(path))),
                        error=f"more than {MAX_FILES} files: the rest were not read",
                    )
                    return
                yield item
            if count == before:
                raise NoInput(f"no files in {clean(str(path))}")
        else:
            count += 1
            yield _File(path, target_name(path.name), nested=False)


def _walk(top: Path, folder: Path, depth: int) -> Iterator[_File | Observation]:
    """Files under `folder`, sorted, hidden ones left out; symbolic links are not followed."""
    try:
        with os.scandir(folder) as it:  # a folder of millions is not listed whole
            entries = sorted(itertools.islice(it, MAX_FILES + 1), key=lambda e: e.name)
    except OSError as exc:
        yield Observation(
            target_name(folder.name),
            Source("file", clean(str(folder))),
            error=f"cannot list the folder: {exc.strerror or exc}",
        )
        return
    for entry in entries:
        if entry.name.startswith("."):
            continue  # .DS_Store, editor files, a .retry file
        path = Path(entry.path)
        relative = path.relative_to(top).parts
        # In a subfolder, the host is the first folder under the one named (Ansible's fetch).
        name = target_name(relative[0]) if len(relative) > 1 else target_name(entry.name)
        if entry.is_dir(follow_symlinks=False):
            if depth + 1 >= MAX_DEPTH:
                yield Observation(
                    name,
                    Source("file", clean(str(path))),
                    error=f"nested more than {MAX_DEPTH} folders deep: not read",
                )
                continue
            yield from _walk(top, path, depth + 1)
        else:
            yield _File(path, name, nested=True)


# --- reading one file --------------------------------------------------------------------------


def _read(path: Path, nested: bool) -> tuple[str, int]:
    """The text of a regular file of at most MAX_FILE_BYTES, and its size in bytes."""
    shown = clean(str(path))
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    if nested:  # found by listing a folder: a link in it is not followed
        flags |= getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise CollectError(f"no such file: {shown}") from None
    except OSError as exc:
        if nested and os.path.islink(path):
            raise CollectError("a symbolic link, not a regular file: not followed") from None
        raise CollectError(f"cannot read {shown}: {exc.strerror or exc}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise CollectError(f"{shown} is not a regular file")
        if info.st_size > MAX_FILE_BYTES:
            raise CollectError(f"larger than {MAX_FILE_BYTES >> 20} MiB: not a facts file")
        chunks: list[bytes] = []
        size = 0
        while size <= MAX_FILE_BYTES:  # it may grow while it is read: stop past the limit
            chunk = os.read(fd, MAX_FILE_BYTES + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as exc:
        raise CollectError(f"cannot read {shown}: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    if size > MAX_FILE_BYTES:
        raise CollectError(f"larger than {MAX_FILE_BYTES >> 20} MiB: not a facts file")
    return _decode(b"".join(chunks)), size


def _decode(raw: bytes) -> str:
    """UTF-8 (a BOM allowed), or UTF-16 with its BOM (Windows PowerShell's `>` writes that)."""
    try:
        if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            return raw.decode("utf-16")
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise CollectError("not UTF-8 text") from None


def _parse(text: str) -> Any:
    """The JSON document in a file: the whole text, or else the last line that is one.

    Output captured from a target may carry lines printed before the probe's (a login banner,
    a sitecustomize); the probe prints its document as one line, last.
    """
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:  # ValueError: also too many digits
        first = exc
    lines = text.splitlines()[-STRAY_LINES:]
    for line in reversed(lines):
        start = line.find("{")
        if start < 0:
            continue
        try:
            data = json.loads(line[start:])
        except (ValueError, RecursionError):
            continue
        if isinstance(data, dict):
            return data
    if not text.strip():
        raise CollectError("empty file")
    raise CollectError(f"not JSON: {clean(first, 120)}")


def interpret(text: str, name: str, origin: str) -> tuple[Observation, ...]:
    """The observations a file's text holds (see the module's docstring for what is read)."""
    data = _parse(text)
    source = Source("file", origin)
    if not isinstance(data, dict):
        raise CollectError(f"not iodetect facts: a JSON {type(data).__name__}, not an object")
    kind = data.get("kind")
    if kind == FLEET_KIND:
        try:
            return observations_from_dict(data, origin)
        except FleetError as exc:
            raise CollectError(str(exc)) from None
    if kind is None and ("stdout" in data or "unreachable" in data or "failed" in data):
        return (_engine_result(data, name, source),)
    return (_facts(data, name, source),)


def _facts(data: dict[str, Any], name: str, source: Source) -> Observation:
    kind = data.get("kind")
    if kind == "iodetect.check":
        raise CollectError(
            "an `iodetect check --json` result holds no facts: collect `iodetect report --json` "
            "or the output of `iodetect probe-script`"
        )
    if kind != model.FACTS_KIND:
        raise CollectError(
            f"not iodetect facts (kind is {clean(repr(kind), 60)}, expected {model.FACTS_KIND!r})"
        )
    inner = data.get("name")
    if isinstance(inner, str) and clean(inner):
        name = clean(inner, NAME_LIMIT)
    # What `report --json` adds beside the facts (derived, so recomputed) and a name an engine
    # may add are not facts.
    body = {k: v for k, v in data.items() if k not in ("name", "bench")}
    try:
        facts = read_facts(body)
    except model.FactsError as exc:
        raise CollectError(f"bad facts: {clean(exc)}") from None
    return Observation(name, source, facts=facts)


def _engine_result(data: dict[str, Any], name: str, source: Source) -> Observation:
    """An engine's result record: the probe's output is in `stdout`, or the engine says why not."""
    inner = data.get("name")
    if isinstance(inner, str) and clean(inner):
        name = clean(inner, NAME_LIMIT)
    rc = data.get("rc")
    if data.get("unreachable") is True or data.get("failed") is True or rc not in (0, None):
        parts = [
            "unreachable" if data.get("unreachable") is True else "failed",
            clean(data.get("msg"), 200) if isinstance(data.get("msg"), str) else "",
            f"exit status {rc}" if isinstance(rc, int) and rc else "",
            _last_line(data.get("stderr")),
        ]
        return Observation(
            name, source, error="the engine reported: " + "; ".join(p for p in parts if p)
        )
    stdout = data.get("stdout")
    if not isinstance(stdout, str):
        raise CollectError("an engine result without the probe's output in `stdout`")
    inner_data = _parse(stdout)
    if not isinstance(inner_data, dict):
        raise CollectError("the engine result's stdout is not a facts document")
    return _facts(inner_data, name, source)


def _last_line(value: Any) -> str:
    if not isinstance(value, str):
        return ""
    lines = [ln for ln in value.strip().splitlines() if ln.strip()]
    return clean(lines[-1], 200) if lines else ""
