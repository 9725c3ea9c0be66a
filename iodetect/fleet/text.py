"""Strings from targets and files made safe to show, and command lines with their secrets masked.

A collected file, a fleet document or a target is not under our control: what it says reaches
a terminal only through `clean()`, which drops the C0/C1 controls (ESC among them: no cursor
moves, no window titles, no OSC 52 clipboard writes), the bidirectional overrides that reorder
what is read, and lone surrogates, and turns line breaks into spaces so one value stays one
line. Rich markup is kept out by putting such strings into `Text` objects, or `escape()`.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence

_SPACES = dict.fromkeys((0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x85, 0x2028, 0x2029), " ")
_DROPPED = dict.fromkeys(
    (
        *range(0x00, 0x20),
        0x7F,
        *range(0x80, 0xA0),
        0x061C,
        0x200E,
        0x200F,
        *range(0x202A, 0x202F),
        *range(0x2066, 0x206A),
    )
)
_TABLE: dict[int, str | None] = {**_DROPPED, **_SPACES}
_SURROGATE = re.compile("[\ud800-\udfff]")
SHOWN_LIMIT = 300  # characters of one outside string shown at most


def clean(value: object, limit: int = SHOWN_LIMIT) -> str:
    """`value` as one line of plain text, safe for any terminal, at most `limit` characters."""
    text = value if isinstance(value, str) else str(value)
    if len(text) > 4 * limit:  # cut long input before the work, not after
        text = text[: 4 * limit]
    text = _SURROGATE.sub("\ufffd", text.translate(_TABLE)).strip()
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return text


def escape(value: object, limit: int = SHOWN_LIMIT) -> str:
    """`clean(value)` with rich markup escaped, for a place that builds a markup string."""
    from rich.markup import escape as escape_markup

    return escape_markup(clean(value, limit))


# --- command lines -----------------------------------------------------------------------------

HIDDEN = "***"
# An environment assignment (`env TOKEN=... python3`, `docker exec -e KEY=...`): its value hidden.
_ASSIGNMENT = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=(.*)$", re.DOTALL)
# An option that names a secret, with its value in the same word or the next one.
_SECRET = re.compile(
    r"^(-{1,2}[A-Za-z0-9_\-]*(?:pass|token|secret|auth|credential|key)[A-Za-z\-]*)(=.*)?$",
    re.IGNORECASE | re.DOTALL,
)
_URL_CREDENTIALS = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)[^/@\s]+@")


def redact_argv(argv: Sequence[str]) -> list[str]:
    """The argv with its secrets hidden: values of NAME=VALUE words, the value of an option
    that names a password, token, secret or key, `sshpass -p VALUE`, credentials in URLs.
    What is left says which command ran and where, not with which secrets."""
    out: list[str] = []
    hide_next = False
    for word in argv:
        if hide_next:
            out.append(HIDDEN)
            hide_next = False
            continue
        if word == "-p" and out and out[-1].rsplit("/", 1)[-1] == "sshpass":
            out.append(word)
            hide_next = True
            continue
        m = _ASSIGNMENT.match(word)
        if m and not (out and out[-1] == "-o"):  # ssh -o Name=value: an option, not a secret
            out.append(f"{m.group(1)}={HIDDEN}")
            continue
        s = _SECRET.match(word)
        if s:
            if s.group(2) is not None:
                out.append(f"{s.group(1)}={HIDDEN}")
            else:
                out.append(word)
                hide_next = True
            continue
        out.append(_URL_CREDENTIALS.sub(lambda u: u.group("scheme") + HIDDEN + "@", word))
    return out


def show_command(command: str | Sequence[str]) -> str:
    """A command line as it may be shown or saved: secrets hidden, controls removed."""
    if isinstance(command, str):
        try:
            argv = shlex.split(command)
        except ValueError:
            argv = command.split()
    else:
        argv = list(command)
    return clean(shlex.join(redact_argv(argv)))
