"""The errors iodetect reports, each with its exit code; the CLI maps them in one place.

Every error a user can meet is one of these, with a one-line message: commands raise them,
and `iodetect.cli.main` prints the message and exits with the error's code. Anything else that
reaches the top is a bug, and is still reported in one line.
"""

from __future__ import annotations

import signal

EXIT_OK = 0
EXIT_FAILED = 1  # a check, a verification or a comparison failed; a conflict cannot be met
EXIT_USAGE = 2  # usage or input error, an unreachable target, output that cannot be written
EXIT_SIGPIPE = 128 + 13  # stdout closed by its reader: as a process killed by SIGPIPE exits


class Error(Exception):
    """An error for the user: one line (the message), and the exit code it maps to."""

    exit_code = EXIT_USAGE


class UsageError(Error, ValueError):
    """Options or arguments that cannot be understood or used together."""


class InputError(Error, ValueError):
    """A file named on the command line that cannot be read or is not what it should be."""


class TargetError(Error, RuntimeError):
    """The target interpreter could not be run, or did not answer as it should."""


class OutputError(Error, OSError):
    """The product could not be written (a full disk, a closed terminal, a refused path)."""


class PipeClosed(Error):
    """The reader of stdout went away (`iodetect report | head -1`): silent, exit 141."""

    exit_code = EXIT_SIGPIPE


class Failed(Error):
    """A check, a verification or a comparison failed; its findings are already shown.

    The message may be empty: the command has said why on its own.
    """

    exit_code = EXIT_FAILED


class Stopped(BaseException):
    """A signal asked iodetect to stop (SIGINT, SIGTERM, SIGHUP): exit 128 + its number.

    Raised in the main thread by the CLI's signal handler. Not an Exception, so no step's error
    handling takes it for a failure; every `finally` cleans up on its way to the top. Not a
    KeyboardInterrupt either, so the CLI framework does not turn it into a plain exit 130.
    """

    def __init__(self, signum: int = signal.SIGINT) -> None:
        super().__init__(signum)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum

    @property
    def name(self) -> str:
        try:
            return signal.Signals(self.signum).name
        except ValueError:  # pragma: no cover - every caller passes a real signal
            return f"signal {self.signum}"


def exit_code(exc: BaseException) -> int:
    """The exit status for an error that reached the top."""
    if isinstance(exc, Stopped):
        return exc.exit_code
    if isinstance(exc, KeyboardInterrupt):
        return 128 + signal.SIGINT
    if isinstance(exc, BrokenPipeError):
        return EXIT_SIGPIPE
    if isinstance(exc, Error):
        return exc.exit_code
    return EXIT_USAGE
