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
from collections.abc import Sequence
from typing import Literal

# Whitespace controls become a space: they would break the one-line promise.
_SPACES = {c: " " for c in (0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x85, 0x2028, 0x2029)}
# Every other C0 and C1 control, ESC and DEL among them, the bidirectional controls, and the
# invisible characters that make two different names look the same (zero-width, BOM).
_UNSAFE = (
    *range(0x00, 0x20),
    0x7F,
    *range(0x80, 0xA0),
    0x061C,
    *range(0x200B, 0x2010),
    0x2028,
    0x2029,
    *range(0x202A, 0x202F),
    *range(0x2066, 0x206A),
    0xFEFF,
)
_DROPPED = {c: None for c in _UNSAFE if c not in _SPACES}
_TABLE = {**_DROPPED, **_SPACES}
# Patterns as text: re compiles (and caches) each on first use, not at every start-up.
_SURROGATE = "[\ud800-\udfff]"
_ESCAPED = "[" + "".join(re.escape(chr(c)) for c in _UNSAFE) + "\ud800-\udfff]"
SHOWN_LIMIT = 2000  # characters of one outside string shown at most
Controls = Literal["drop", "escape"]


def _escaped(m: re.Match[str]) -> str:
    code = ord(m.group())
    if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8 (os.fsdecode): show the byte
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def clean(value: object, limit: int = SHOWN_LIMIT, *, controls: Controls = "drop") -> str:
    """`value` as one line of plain text, safe for any terminal, at most `limit` characters.

    `controls="drop"` (messages, names in tables) removes the unsafe characters and turns line
    breaks into spaces. `controls="escape"` (evidence read from a process or a file that may be
    hostile: `inspect`) shows each of them as `\\xNN` or `\\uNNNN` instead, and a byte that
    was not UTF-8 as `\\xNN`: what the target holds stays visible, and nothing of it acts on
    the terminal.
    """
    text = value if isinstance(value, str) else str(value)
    if len(text) > 4 * limit:  # long input: cut before the work, not after
        text = text[: 4 * limit]
    if controls == "escape":
        text = re.sub(_ESCAPED, _escaped, text)
    else:
        text = re.sub(_SURROGATE, "\ufffd", text.translate(_TABLE))
    if len(text) > limit:
        text = text[: max(0, limit - 3)] + "..."
    return text


def escape(value: object, limit: int = SHOWN_LIMIT) -> str:
    """`clean(value)` with rich markup escaped, for the rare place that builds a markup string."""
    from rich.markup import escape as escape_markup  # rich only where output is rendered

    return escape_markup(clean(value, limit))


# --- secrets in command lines ----------------------------------------------------------------

HIDDEN = "***"
# An environment assignment (`env TOKEN=... python3`, `docker exec -e KEY=...`).
_ASSIGNMENT = r"(?s)^([A-Za-z_][A-Za-z0-9_.\-]*)=(.*)$"
# A short option with its value glued on (`-eTOKEN=x`, `-oProxyCommand=...`).
_SHORT_GLUED = r"(?s)^(-[A-Za-z])([A-Za-z_][A-Za-z0-9_.\-]*)=(.*)$"
# A long option with its value (`--password=x`, `--env=TOKEN=x`, `--workers=4`).
_LONG = r"(?s)^(--?[A-Za-z0-9][A-Za-z0-9_.\-]*)=(.*)$"
# Words in a name that say its value is a secret.
_SECRET_NAME = r"(?i)pass|token|secret|auth|credential|key"
_URL_CREDENTIALS = r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)[^/@\s]+@"
# A word that carries an HTTP credential whatever option it follows: a header that names one
# (`-H 'Authorization: ...'`, `X-Api-Key: ...`, `Cookie: ...`) or a Bearer/Basic value.
_CREDENTIAL_TEXT = r"(?i)^[\w-]*(auth|token|key|secret|pass|cookie)[\w-]*\s*:|\b(bearer|basic)\s+\S"


def _hide_url_credentials(word: str) -> str:
    return re.sub(_URL_CREDENTIALS, lambda u: u.group("scheme") + HIDDEN + "@", word)


def _ssh_option(value: str) -> bool:
    """Whether `-o Name=value` is an ordinary ssh option, shown (`StrictHostKeyChecking=no`):
    ssh takes no secret that way, but ProxyCommand and the like hold whole command lines, and
    their secrets."""
    return not any(c.isspace() for c in value)


def redact_argv(argv: Sequence[str]) -> list[str]:
    """The argv with its secrets hidden; what is left says which command ran and where, not
    with which secrets. Hidden: the value of a NAME=VALUE word (`env TOKEN=...`, `-e A=B`), of
    a short option with an assignment glued on (`-eA=B`), of an option whose name says
    password, token, secret, auth, credential or key (`--password=x`, `--token x`), of a long
    option whose value is an assignment (`--env=A=B`), `sshpass -p VALUE`, and credentials in
    URLs, and any word or option value that carries an HTTP credential (`Authorization: ...`,
    `Bearer ...`). Shown: other options' values (`--workers=4`, `--loop=uvloop`: evidence) and ssh's
    `-o Name=value` unless its value is a command."""
    out: list[str] = []
    hide_next = False
    for word in argv:
        if hide_next:
            out.append(HIDDEN)
            hide_next = False
            continue
        after_o = bool(out) and out[-1] == "-o"
        if word == "-p" and out and out[-1].rsplit("/", 1)[-1] == "sshpass":
            out.append(word)
            hide_next = True
            continue
        m = re.match(_ASSIGNMENT, word)
        if m:
            shown = after_o and _ssh_option(m.group(2))
            out.append(word if shown else f"{m.group(1)}={HIDDEN}")
            continue
        g = re.match(_SHORT_GLUED, word)
        if g:
            shown = g.group(1) == "-o" and _ssh_option(g.group(3))
            out.append(word if shown else f"{g.group(1)}{g.group(2)}={HIDDEN}")
            continue
        long = re.match(_LONG, word)
        if long:
            name, value = long.groups()
            if (
                re.search(_SECRET_NAME, name)
                or re.match(_ASSIGNMENT, value)
                or re.search(_CREDENTIAL_TEXT, value)
            ):
                out.append(f"{name}={HIDDEN}")
            else:
                out.append(_hide_url_credentials(word))
            continue
        if word.startswith("-") and re.search(_SECRET_NAME, word):
            out.append(word)
            hide_next = True
            continue
        if re.search(_CREDENTIAL_TEXT, word):
            out.append(HIDDEN)
            continue
        out.append(_hide_url_credentials(word))
    return out


def show_command(
    command: str | Sequence[str] | None, limit: int = 300, *, controls: Controls = "drop"
) -> str:
    """A command line as it may be shown or saved: secrets hidden, each word quoted as a shell
    would need it (one argument with a space cannot pass for two), then `clean()`ed."""
    import shlex

    if command is None:
        return ""
    if isinstance(command, str):
        try:
            argv = shlex.split(command)
        except ValueError:
            argv = command.split()
    else:
        argv = list(command)
    return clean(shlex.join(redact_argv(argv)), limit, controls=controls)
