"""GitHub Actions workflow commands: `::error title=...::message` lines that a runner turns into
annotations.

The syntax is GitHub's documented one (docs.github.com/en/actions/reference/workflows-and-actions/
workflow-commands: "Setting an error message", `::error file={name},line={line},title={title}::
{message}`, and likewise `::warning` and `::notice`). The escaping is that of GitHub's own
toolkit, which every JavaScript action uses to write them (actions/toolkit,
packages/core/src/command.ts, escapeData and escapeProperty): in the message `%`, CR and LF
become %25, %0D and %0A, so a message stays one line and cannot start a second command; in a
property value `:` and `,` become %3A and %2C too, since they end a property.
"""

from __future__ import annotations

from collections.abc import Mapping

LEVELS = ("error", "warning", "notice")


def escape_data(text: str) -> str:
    """A workflow command's message (escapeData)."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """A workflow command's property value (escapeProperty: also ':' and ',')."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def command(level: str, message: str, properties: Mapping[str, str] | None = None) -> str:
    """One annotation line: `::level key=value,...::message`."""
    if level not in LEVELS:
        raise ValueError(f"not a workflow annotation level: {level!r}")
    props = ",".join(f"{k}={escape_property(v)}" for k, v in (properties or {}).items())
    return f"::{level}{' ' + props if props else ''}::{escape_data(message)}"
