"""`iodetect report`."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Not yet registered: this command is being built."""
