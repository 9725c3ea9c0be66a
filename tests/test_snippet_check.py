"""`iodetect snippet --check FILE`: is the committed module what iodetect generates now?"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from iodetect.drift import compare, read_module
from iodetect.errors import InputError

from support import HOSTS, run_cli

FACTS = str(HOSTS / "linux.json")  # a saved report: the same module on every machine


def _generate(path: Path, *options: str) -> str:
    done = run_cli("snippet", "--facts", FACTS, *options, "-o", str(path))
    assert done.returncode == 0, done.stderr
    return path.read_text(encoding="utf-8")


def test_current_module_exits_0_and_prints_nothing(tmp_path: Path) -> None:
    module = tmp_path / "loop_setup.py"
    _generate(module, "--connections", "4000")
    done = run_cli("snippet", "--facts", FACTS, "--connections", "4000", "--check", str(module))
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    assert "is current" in done.stderr


def test_edited_module_exits_1_with_a_unified_diff_on_stdout(tmp_path: Path) -> None:
    module = tmp_path / "loop_setup.py"
    text = _generate(module)
    module.write_text(text.replace("import asyncio\n", "import asyncio\nimport os\n"), "utf-8")
    done = run_cli("snippet", "--facts", FACTS, "--check", str(module))
    assert done.returncode == 1, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == f"--- {module} (committed)"
    assert lines[1] == f"+++ {module} (iodetect snippet now)"
    assert "-import os" in lines
    assert not [ln for ln in lines[2:] if ln.startswith("+")]  # only the added line goes
    # stderr says how to make it current, with the options and the source of the facts
    assert f"iodetect snippet --facts {FACTS} -o {module}" in done.stderr


def test_other_options_than_the_module_was_made_with_differ(tmp_path: Path) -> None:
    module = tmp_path / "loop_setup.py"
    _generate(module, "--loop", "selector", "--selector", "poll")
    done = run_cli("snippet", "--facts", FACTS, "--check", str(module))
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    assert "-    iodetect snippet --loop selector --selector poll > loop_setup.py" in lines
    assert "+    iodetect snippet > loop_setup.py" in lines


def test_regenerating_as_told_makes_the_check_pass(tmp_path: Path) -> None:
    module = tmp_path / "loop_setup.py"
    module.write_text("# an old module\n", encoding="utf-8")
    assert run_cli("snippet", "--facts", FACTS, "--check", str(module)).returncode == 1
    _generate(module)
    assert run_cli("snippet", "--facts", FACTS, "--check", str(module)).returncode == 0


def test_terminal_control_characters_from_the_file_are_escaped(tmp_path: Path) -> None:
    module = tmp_path / "loop_setup.py"
    text = _generate(module)
    module.write_text("# \x1b]0;owned\x07\x1b[2J\r\u202e\n" + text, encoding="utf-8")
    done = run_cli("snippet", "--facts", FACTS, "--check", str(module))
    assert done.returncode == 1
    assert "\x1b" not in done.stdout and "\x07" not in done.stdout and "\r" not in done.stdout
    assert "\u202e" not in done.stdout
    assert "-# \\x1b]0;owned\\x07\\x1b[2J\\r\\u202e" in done.stdout.splitlines()


@pytest.mark.parametrize(
    "kind", ["missing", "directory", "fifo", "too large", "not utf-8", "unreadable"]
)
def test_a_file_that_cannot_be_read_exits_2_with_one_line(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "loop_setup.py"
    if kind == "directory":
        path.mkdir()
    elif kind == "fifo":
        os.mkfifo(path)  # opening it for reading must not wait for a writer
    elif kind == "too large":
        with open(path, "wb") as fh:
            fh.truncate(2 << 20)  # sparse: 2 MiB of nothing, never read
    elif kind == "not utf-8":
        path.write_bytes(b"# \xff\xfe\n")
    elif kind == "unreadable":
        path.write_text("x = 1\n", encoding="utf-8")
        path.chmod(0)
        if os.access(path, os.R_OK):  # root reads anything: a directory without x instead
            path.chmod(0o600)
            path = tmp_path / "closed" / "loop_setup.py"
            path.parent.mkdir()
            path.write_text("x = 1\n", encoding="utf-8")
            path.parent.chmod(0)
            if os.access(path, os.R_OK):
                path.parent.chmod(0o700)
                pytest.skip("this user can read any file: no unreadable file can be made")
    done = run_cli("snippet", "--facts", FACTS, "--check", str(path), timeout=60)
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    assert done.stderr.startswith("iodetect: error: --check: ")
    assert len(done.stderr.strip().splitlines()) == 1
    assert "Traceback" not in done.stderr


def test_check_takes_neither_output_nor_verify(tmp_path: Path) -> None:
    module = tmp_path / "loop_setup.py"
    _generate(module)
    for extra in (["-o", str(tmp_path / "other.py")], ["--verify"]):
        done = run_cli("snippet", "--facts", FACTS, "--check", str(module), *extra)
        assert done.returncode == 2
        assert "--check" in done.stderr
    assert not (tmp_path / "other.py").exists()


def test_diff_of_line_endings_and_a_missing_final_newline() -> None:
    drift = compare("a\r\nb", "a\nb\n", "m.py")
    assert not drift.current
    lines = drift.diff.splitlines()
    assert "-a\\r" in lines and "+a" in lines
    assert "\\ No newline at end of file" in lines
    assert compare("a\n", "a\n", "m.py").current


def test_read_module_stops_at_the_limit(tmp_path: Path) -> None:
    path = tmp_path / "m.py"
    path.write_text("x" * 101, encoding="utf-8")
    with pytest.raises(InputError, match="more than the 100 bytes iodetect reads"):
        read_module(path, limit=100)
    assert read_module(path, limit=101) == "x" * 101


def test_a_byte_order_mark_is_a_difference(tmp_path: Path) -> None:
    """Python ignores a UTF-8 BOM, but the module is not the bytes iodetect writes: --check says
    so, and the diff shows the mark (read_module keeps what files.read_text would drop)."""
    module = tmp_path / "loop_setup.py"
    text = _generate(module)
    module.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    assert read_module(module).startswith("\ufeff")
    done = run_cli("snippet", "--facts", FACTS, "--check", str(module))
    assert done.returncode == 1, done.stderr
    assert '-\\ufeff"""Event loop setup:' in done.stdout.splitlines()[3]
