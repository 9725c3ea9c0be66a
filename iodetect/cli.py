"""The command line: thin commands that parse, call the core, render and choose the exit code.

main() is the one place where errors become exit codes (iodetect.errors): a command raises,
main prints one line and exits. It also owns the signals: SIGINT, SIGTERM and SIGHUP stop
every target process group and exit 130, 143 and 129.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from iodetect import __version__, errors, output

if TYPE_CHECKING:
    import typer

HELP = (
    "Which I/O mechanism and asyncio event loop a network service should use on this host, "
    "the setup code for it, a live socket self-test, and measurements.\n\n"
    "Exit codes: 0 ok, 1 a check failed (or, of several targets, one unreachable), 2 usage "
    "or input error or an unreachable target, "
    "130/143/129 stopped by SIGINT/SIGTERM/SIGHUP, 141 stdout closed."
)
_app: list[typer.Typer] = []  # the one app, made on first use: quick command lines need none


def application() -> typer.Typer:
    """The typer app with its root options; commands are added by register()."""
    if _app:
        return _app[0]
    import typer

    app = typer.Typer(
        name="iodetect",
        help=HELP,
        no_args_is_help=True,
        # --install-completion and --show-completion (bash, zsh, fish, PowerShell)
        add_completion=True,
        pretty_exceptions_enable=False,
        rich_markup_mode=None,
    )

    def _version(value: bool) -> None:
        if value:
            output.echo(f"iodetect {__version__}")
            raise typer.Exit()

    @app.callback()
    def _root(
        version: bool = typer.Option(
            False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ) -> None:
        """iodetect: the right event loop for this host, with evidence."""

    _app.append(app)
    return app


def __getattr__(name: str) -> Any:
    if name == "app":  # iodetect.cli.app, as before it was made on first use
        return application()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# Each command module registers itself: register(app) adds its command. A command line that
# names one imports only its module (typer reads the signature of every command registered,
# and the modules import what their commands need); help and anything else get them all.
# Before that, iodetect.commands.quick runs the plain command lines of report --json and
# snippet without typer (see there).
COMMANDS = {
    "report": "report",
    "snippet": "snippet",
    "check": "check",
    "bench": "bench",
    "inspect": "inspect",
    "scan": "scan",
    "fleet": "fleet",
    "diff": "diff",
    "probe-script": "probe_script",
}
_registered: set[str] = set()


def register(argv: Sequence[str]) -> None:
    """Register the command `argv` starts with, or every command when it starts with none."""
    import importlib

    app = application()
    names = [argv[0]] if argv and argv[0] in COMMANDS else list(COMMANDS)
    for name in names:
        if name not in _registered:
            _registered.add(name)
            importlib.import_module(f"iodetect.commands.{COMMANDS[name]}").register(app)


def _framework(name: str, *also: type[BaseException]) -> tuple[type[BaseException], ...]:
    """typer's exception class `name` (and `also`) for an except clause; typer's only once it
    was imported (by a command line the quick path did not take)."""
    typer = sys.modules.get("typer")
    return (getattr(typer, name), *also) if typer is not None else also


def _invoke(args: list[str]) -> Any:
    """Run the command line: the quick path when it takes it, else typer. A quick command
    ends as typer would end it: an interrupt is exit 130, an end of input an abort."""
    from iodetect.commands import quick

    direct = quick.command(args)
    if direct is None:
        register(args)
        return application()(args=args, standalone_mode=False, prog_name="iodetect")
    try:
        direct()
    except KeyboardInterrupt:
        return 128 + signal.SIGINT
    except EOFError:
        output.note("")
        raise KeyboardInterrupt from None
    return errors.EXIT_OK


STOP_SIGNALS = tuple(
    sig for name in ("SIGINT", "SIGTERM", "SIGHUP") if (sig := getattr(signal, name, None))
)


def _stop(signum: int, frame: object) -> None:
    """The first stop signal unwinds the main thread (every `finally` kills its targets);
    later ones are ignored, so that the cleanup itself is not cut short."""
    for sig in STOP_SIGNALS:
        with contextlib.suppress(OSError, ValueError):
            signal.signal(sig, signal.SIG_IGN)
    raise errors.Stopped(signum)


def _install_signals() -> None:
    for sig in STOP_SIGNALS:
        with contextlib.suppress(OSError, ValueError):  # not the main thread: leave them
            signal.signal(sig, _stop)


def run(argv: Sequence[str] | None = None) -> int:
    """Run one command line; the exit status. Every error is mapped here, and only here."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        try:
            code = _invoke(args)
            output.flush()
        finally:
            # Nothing of a target outlives the command, whatever happened; a command that
            # never imported the transport started no target.
            transport = sys.modules.get("iodetect.transport")
            if transport is not None:
                transport.stop_all()
    except errors.Stopped as stop:
        output.note(f"iodetect: interrupted by {stop.name}; every target process was stopped")
        return stop.exit_code
    except errors.PipeClosed:
        output.discard_stdout()
        return errors.EXIT_SIGPIPE
    except errors.Error as exc:
        if isinstance(exc, errors.OutputError):
            output.discard_stdout()
        if str(exc):
            output.note(f"iodetect: error: {exc}")
        return exc.exit_code
    except _framework("TyperException") as exc:  # usage and parameter errors
        ctx = getattr(exc, "ctx", None)
        if type(exc).__name__ == "NoArgsIsHelpError" and ctx is not None:
            output.echo(ctx.get_help())
            return errors.EXIT_OK
        hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
        from iodetect.text import clean  # a value given on the command line may be huge

        message = clean(exc.format_message(), 400)  # type: ignore[attr-defined]
        output.note(f"iodetect: error: {message}{hint}")
        return int(getattr(exc, "exit_code", errors.EXIT_USAGE))
    except _framework("Abort", KeyboardInterrupt):
        output.note("iodetect: interrupted; every target process was stopped")
        return 128 + signal.SIGINT
    except BrokenPipeError:
        output.discard_stdout()
        return errors.EXIT_SIGPIPE
    except SystemExit as exc:
        # The CLI framework exits 1 itself when a write of its own (--help) meets a closed
        # pipe, after wrapping stdout: that is still a closed pipe.
        if type(sys.stdout).__name__ == "PacifyFlushWrapper":
            return errors.EXIT_SIGPIPE
        return exc.code if isinstance(exc.code, int) else errors.EXIT_USAGE
    except OSError as exc:
        output.discard_stdout()
        output.note(f"iodetect: error: {exc.strerror or exc}")
        return errors.EXIT_USAGE
    except Exception as exc:  # a bug: still one line; IODETECT_TRACEBACK=1 shows it whole
        if os.environ.get("IODETECT_TRACEBACK"):
            raise
        from iodetect.text import clean

        output.note(f"iodetect: internal error: {type(exc).__name__}: {clean(exc, 400)}")
        return errors.EXIT_USAGE
    return code if isinstance(code, int) else errors.EXIT_OK


def main() -> None:
    """The `iodetect` entry point."""
    output.prepare()
    _install_signals()
    sys.exit(run())
