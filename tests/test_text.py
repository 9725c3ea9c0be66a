"""Strings from outside made safe to show: one implementation for every command."""

from __future__ import annotations

import pytest

from iodetect.text import HIDDEN, clean, redact_argv, show_command

HOSTILE = "a\x1b]0;title\x07b\u202ec\u200bd\ufeffe\nf\udcff"


def test_drop_mode_removes_what_acts_on_a_terminal() -> None:
    assert clean(HOSTILE) == "a]0;titlebcde f\ufffd"
    assert clean("a\nb\tc\r\n") == "a b c  "  # one line; its spaces are the caller's
    assert clean("x" * 50, 10) == "x" * 7 + "..."


def test_escape_mode_keeps_evidence_visible() -> None:
    shown = clean(HOSTILE, controls="escape")
    assert shown == "a\\x1b]0;title\\x07b\\u202ec\\u200bd\\ufeffe\\x0af\\xff"
    assert clean(" padded ", controls="escape") == " padded "  # as the process has it
    assert all(c.isprintable() for c in shown)


@pytest.mark.parametrize(
    ("argv", "shown"),
    [
        (["env", "API_TOKEN=abc", "python3"], ["env", f"API_TOKEN={HIDDEN}", "python3"]),
        (["docker", "exec", "-e", "A=B", "c"], ["docker", "exec", "-e", f"A={HIDDEN}", "c"]),
        (["docker", "exec", "-eA=B", "c"], ["docker", "exec", f"-eA={HIDDEN}", "c"]),
        (["docker", "exec", "--env=A=B", "c"], ["docker", "exec", f"--env={HIDDEN}", "c"]),
        (
            ["app", "--password=x", "--token", "t"],
            ["app", f"--password={HIDDEN}", "--token", HIDDEN],
        ),
        (["app", "--api-key", "k"], ["app", "--api-key", HIDDEN]),
        (["sshpass", "-p", "pw", "ssh"], ["sshpass", "-p", HIDDEN, "ssh"]),
        (["psql", "postgres://u:pw@db/x"], ["psql", f"postgres://{HIDDEN}@db/x"]),
        (
            ["curl", "-H", "Authorization: Bearer abc", "--header=X-Auth: t", "--data=a b"],
            ["curl", "-H", HIDDEN, f"--header={HIDDEN}", "--data=a b"],
        ),
        (["app", "--header=Authorization: Basic Zm9v"], ["app", f"--header={HIDDEN}"]),
        # Evidence, not secrets: ordinary option values and ssh options stay.
        (["uvicorn", "--loop=uvloop", "--workers=4"], ["uvicorn", "--loop=uvloop", "--workers=4"]),
        (
            ["ssh", "-o", "StrictHostKeyChecking=no", "-oBatchMode=yes", "h"],
            ["ssh", "-o", "StrictHostKeyChecking=no", "-oBatchMode=yes", "h"],
        ),
        # ...unless the ssh option holds a command.
        (
            ["ssh", "-o", "ProxyCommand=sshpass -p pw ssh j", "-o", "Port=22"],
            ["ssh", "-o", f"ProxyCommand={HIDDEN}", "-o", "Port=22"],
        ),
    ],
)
def test_secrets_are_hidden_and_evidence_kept(argv: list[str], shown: list[str]) -> None:
    assert redact_argv(argv) == shown


def test_a_shown_command_keeps_its_word_boundaries() -> None:
    # One argument with a space cannot pass for two options.
    assert show_command(["app", "--workers 1"]) == "app '--workers 1'"
    assert show_command("env TOKEN=x python3") == "env 'TOKEN=***' python3"
    assert show_command(None) == ""
