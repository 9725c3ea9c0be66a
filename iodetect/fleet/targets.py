"""The targets of a run over many interpreters: repeated --python commands, or a --targets file.

A targets file holds one target a line, a command line as --python takes it, optionally named:

    # CI and production
    ci   = python3
    web1 = ssh web1 python3          # words from `#` on are a comment, as in a shell
    ssh web2 prlimit --nofile=1024:1024 python3

A name is one word before ` = ` (spaces around the sign, so `env KEY=value python3` stays a
command); an unnamed target is named by its command line, secrets masked. The file is read
bounded (iodetect.files); a line that cannot be used is an input error naming its line number,
before any target is reached.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass

from iodetect.errors import InputError
from iodetect.fleet.document import NAME_LIMIT, unique_names
from iodetect.text import clean, show_command

TARGETS_LIMIT = 1 << 20  # bytes of a targets file: ten thousand long lines
MAX_TARGETS = 10_000
# NAME = COMMAND: the name one word without `=`, the sign set apart by whitespace.
_NAMED = re.compile(r"^(?P<name>[^\s=#]+)\s+=\s+(?P<command>\S.*)$")
_NAME = re.compile(r"^[A-Za-z0-9_.:@/+\-\[\]()]+$")
_NAME_ALONE = re.compile(r"^[^\s=]+\s*=\s*$")  # `web1 =` with nothing after it
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")  # KEY=value: not a command of its own
_CONTROLS = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")


@dataclass(frozen=True)
class TargetSpec:
    """One target to reach: its name, the argv that starts its interpreter, where it was given."""

    name: str
    argv: tuple[str, ...]
    origin: str  # `--python` or `FILE line N`, for messages

    @property
    def shown(self) -> str:
        """The command line with its secrets masked."""
        return show_command(self.argv)


def from_commands(commands: Sequence[str]) -> list[TargetSpec]:
    """Targets from --python command lines, each named by its command (secrets masked).

    Raises the transport's TargetError (exit 2) for a command line that cannot be parsed.
    """
    from iodetect import transport

    specs = []
    for command in commands:
        argv = tuple(transport.split_command(command))
        specs.append(TargetSpec(_command_name(argv), argv, "--python"))
    return specs


def read_file(path: str) -> list[TargetSpec]:
    """The targets of a --targets file; InputError (exit 2) for the file or a line of it."""
    from iodetect import files

    text = files.read_text(path, "--targets file", TARGETS_LIMIT)
    return parse(text, f"--targets file {clean(path)}")


def parse(text: str, origin: str) -> list[TargetSpec]:
    """The targets in a targets file's text; InputError naming the line for a bad line."""
    specs: list[TargetSpec] = []
    named: dict[str, int] = {}
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        where = f"{origin} line {number}"
        if _CONTROLS.search(line):
            raise InputError(f"{where}: control characters are not allowed in a target line")
        name = None
        command = line
        m = _NAMED.match(line)
        if m:
            name, command = m.group("name"), m.group("command")
            if len(name) > NAME_LIMIT or not _NAME.match(name):
                raise InputError(
                    f"{where}: a target's name is one word of letters, digits and _.:@/+-[]() "
                    f"up to {NAME_LIMIT} characters, not {clean(name, 60)!r}"
                )
            if name in named:
                raise InputError(f"{where}: the name {name} is already given on line {named[name]}")
            named[name] = number
        elif _NAME_ALONE.match(line):
            raise InputError(
                f"{where}: a name needs a command after ` = ` (e.g. `web1 = ssh web1 python3`)"
            )
        try:
            argv = tuple(shlex.split(command, comments=True))
        except ValueError as exc:
            raise InputError(f"{where}: cannot parse the command: {exc}") from None
        if not argv:
            raise InputError(f"{where}: no command for {name}" if name else f"{where}: no command")
        if _ASSIGNMENT.match(argv[0]):
            raise InputError(
                f"{where}: {clean(argv[0].split('=', 1)[0], 40)}=... is not a command: name a "
                "target with spaces around the sign (`web1 = ssh web1 python3`); set a variable "
                "with `env KEY=VALUE python3`"
            )
        if len(specs) >= MAX_TARGETS:
            raise InputError(f"{where}: more than {MAX_TARGETS} targets")
        specs.append(TargetSpec(name or _command_name(argv), argv, where))
    if not specs:
        raise InputError(f"{origin}: no targets in it (one command line a line)")
    return specs


def combined(specs: Sequence[TargetSpec]) -> list[TargetSpec]:
    """The targets with their names made unique (an unnamed command given twice: `cmd (2)`)."""
    names = unique_names([s.name for s in specs])
    return [TargetSpec(n, s.argv, s.origin) for n, s in zip(names, specs)]


def _command_name(argv: Sequence[str]) -> str:
    return clean(show_command(argv), NAME_LIMIT) or "(unnamed)"
