"""Text from targets and files, made safe to show: no control sequences, no secrets, no markup.

A target, a facts file or a bench file is not under our control. What it says reaches a
terminal only through `clean()`: without C0/C1 controls and ESC, a program can neither move the
cursor, set the window title, write the clipboard (OSC 52) nor forge a second log line with a
newline; bidirectional overrides cannot reorder what is read; lone surrogates cannot stop the
encoder. Rich markup is a separate matter: strings from outside go into `Text` objects or
through `escape()`, never into a markup string as they are.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence

# Whitespace controls become a space: they would break the one-line promise.
_SPACES = {c: " " for c in (0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x85, 0x2028, 0x2029)}
# Every other C0 and C1 control, ESC and DEL among them, and the bidirectional controls.
_DROPPED = {
    c: None
    for c in (
        *range(0x00, 0x20),
        0x7F,
        *range(0x80, 0xA0),
        0x061C,
        0x200E,
        0x200F,
        *range(0x202A, 0x202F),
        *range(0x2066, 0x206A),
    )
    if c not in _SPACES
}
_TABLE = {**_DROPPED, **_SPACES}
_SURROGATE = re.compile("[\ud800-\udfff]")
SHOWN_LIMIT = 2000  # characters of one outside string shown at most


def clean(value: object, limit: int = SHOWN_LIMIT) -> str:
    """`value` as one line of plain text, safe for any terminal, at most `limit` characters."""
    text = value if isinstance(value, str) else str(value)
    if len(text) > 4 * limit:  # long input: cut before the work, not after
        text = text[: 4 * limit]
    text = _SURROGATE.sub("\ufffd", text.translate(_TABLE))
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return text


def escape(value: object, limit: int = SHOWN_LIMIT) -> str:
    """`clean(value)` with rich markup escaped, for the rare place that builds a markup string."""
    from rich.markup import escape as escape_markup  # rich only where output is rendered

    return escape_markup(clean(value, limit))


# --- secrets in command lines ----------------------------------------------------------------

_ASSIGNMENT = re.compile(r"^(-{0,2}[A-Za-z_][A-Za-z0-9_.\-]*)=(.+)$", re.DOTALL)
_SECRET_OPTION = re.compile(r"^-{1,2}[A-Za-z\-]*(pass|token|secret|auth|credential)", re.I)
_URL_CREDENTIALS = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)[^/@\s]+@")
HIDDEN = "***"


def redact_argv(argv: Sequence[str]) -> list[str]:
    """The argv with secrets hidden: values of NAME=VALUE words (`env TOKEN=...`, `-e A=B`,
    `-oOption=value`), the word after an option that names a password or token, and the
    credentials in URLs. What is left says which command ran, not with which secrets."""
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
        if m:
            out.append(f"{m.group(1)}={HIDDEN}")
            continue
        if _SECRET_OPTION.match(word):
            out.append(word)
            hide_next = True
            continue
        out.append(_URL_CREDENTIALS.sub(lambda u: u.group("scheme") + HIDDEN + "@", word))
    return out


def show_command(command: str | Sequence[str] | None) -> str:
    """A --python command line as it may be shown or saved: secrets hidden, controls removed."""
    if command is None:
        return ""
    if isinstance(command, str):
        try:
            argv = shlex.split(command)
        except ValueError:
            argv = command.split()
    else:
        argv = list(command)
    return clean(shlex.join(redact_argv(argv)), 300)
