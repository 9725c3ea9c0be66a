"""`iodetect probe-script`: the target-side probe as a program an engine can run anywhere."""

from __future__ import annotations

import typer


def probe_script() -> None:
    """Print the probe as a self-contained program (standard library only, CPython 3.8+ and
    PyPy 3) whose stdout is the facts JSON alone: iodetect probe-script > probe.py

    Run it with an engine (Ansible's script module, a Kubernetes Job, kubectl exec -i), keep
    each target's output in a file named after it, and read them with `iodetect fleet DIR`.
    """
    from iodetect.fleet.script import probe_script as text

    typer.echo(text(), nl=False)


def register(app: typer.Typer) -> None:
    app.command("probe-script")(probe_script)
