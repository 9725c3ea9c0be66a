"""Files named on the command line: written safely, read within bounds, with real devices,
FIFOs, symlinks, read-only mounts and concurrent writers."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from iodetect import files
from iodetect.errors import InputError, OutputError

from support import HOSTS, run_cli

FACTS = str(HOSTS / "linux.json")


def snippet_to(out: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return run_cli("snippet", "--facts", FACTS, "-o", out, *extra, timeout=60)


def one_line_error(done: subprocess.CompletedProcess[str]) -> str:
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("iodetect: error: ") and "Traceback" not in done.stderr
    return lines[0]


def device(path: Path, minor: int) -> Path:
    """A character device node of the kernel's memory driver: 3 is null, 7 is full. Made in
    the test's folder, so that a bug here can never replace the host's own /dev/null."""
    try:
        os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, minor))
    except PermissionError:
        pytest.skip("making a device node needs root")
    return path


def leftovers(folder: Path, keep: set[str]) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name not in keep)


# --- writing -------------------------------------------------------------------------------------


def test_a_device_is_written_in_place_not_replaced(tmp_path: Path) -> None:
    null = device(tmp_path / "null", 3)
    done = snippet_to(str(null))
    assert done.returncode == 0, done.stderr
    assert stat.S_ISCHR(null.stat().st_mode)
    assert leftovers(tmp_path, {"null"}) == []


def test_a_full_device_is_one_line_and_exit_2(tmp_path: Path) -> None:
    full = device(tmp_path / "full", 7)
    done = snippet_to(str(full))
    assert done.returncode == 2
    assert "No space left on device" in one_line_error(done)
    assert stat.S_ISCHR(full.stat().st_mode)


def test_stdout_by_its_path_is_written_in_place(tmp_path: Path) -> None:
    link = tmp_path / "stdout"
    link.symlink_to("/proc/self/fd/1")
    for path in ("/dev/fd/1", str(link)):
        done = snippet_to(path)
        assert done.returncode == 0, done.stderr
        assert "def run(" in done.stdout
    assert link.is_symlink() and os.readlink(link) == "/proc/self/fd/1"


def test_dash_is_stdout_and_an_empty_name_is_an_error(tmp_path: Path) -> None:
    done = snippet_to("-")
    assert done.returncode == 0 and "def run(" in done.stdout
    done = snippet_to("")
    assert done.returncode == 2 and done.stdout == ""
    assert "-o: the file name is empty" in one_line_error(done)


def test_a_symlink_is_followed_and_kept(tmp_path: Path) -> None:
    real = tmp_path / "real.py"
    real.write_text("old\n")
    link = tmp_path / "loop_setup.py"
    link.symlink_to(real)
    done = snippet_to(str(link))
    assert done.returncode == 0, done.stderr
    assert link.is_symlink() and "def run(" in real.read_text()
    assert leftovers(tmp_path, {"real.py", "loop_setup.py"}) == []


def test_a_symlink_planted_at_the_old_temporary_name_is_not_followed(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    (tmp_path / "loop_setup.py.tmp").symlink_to(victim)
    done = snippet_to(str(tmp_path / "loop_setup.py"))
    assert done.returncode == 0, done.stderr
    assert victim.read_text() == "precious\n"


def test_the_old_mode_and_owner_are_kept(tmp_path: Path) -> None:
    out = tmp_path / "loop_setup.py"
    out.write_text("old\n")
    out.chmod(0o640)
    if os.geteuid() == 0:
        os.chown(out, 1234, 1234)
    done = snippet_to(str(out))
    assert done.returncode == 0, done.stderr
    st = out.stat()
    assert stat.S_IMODE(st.st_mode) == 0o640
    if os.geteuid() == 0:
        assert (st.st_uid, st.st_gid) == (1234, 1234)


def test_a_new_file_gets_the_usual_mode(tmp_path: Path) -> None:
    out = tmp_path / "new.py"
    written = files.write_text(str(out), "x = 1\n")
    assert written == str(out)
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~umask


def test_concurrent_writers_all_succeed(tmp_path: Path) -> None:
    out = tmp_path / "loop_setup.py"
    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(lambda _: snippet_to(str(out)), range(6)))
    assert [r.returncode for r in results] == [0] * 6, [r.stderr for r in results]
    compile(out.read_text(), str(out), "exec")
    assert leftovers(tmp_path, {"loop_setup.py"}) == []


def test_a_fifo_with_a_reader_is_written_in_place(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got: list[bytes] = []

    def read() -> None:
        with open(fifo, "rb") as fh:
            got.append(fh.read())

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    done = snippet_to(str(fifo))
    reader.join(timeout=10)
    assert done.returncode == 0, done.stderr
    assert got and b"def run(" in got[0]
    assert stat.S_ISFIFO(fifo.stat().st_mode)


def test_a_fifo_without_a_reader_is_refused_at_once(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    start = time.monotonic()
    done = snippet_to(str(fifo))
    assert time.monotonic() - start < 20
    assert done.returncode == 2 and "a FIFO with no reader" in one_line_error(done)


def test_a_directory_or_a_socket_is_refused(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match="it is a directory"):
        files.write_text(str(tmp_path), "x")
    import socket

    path = tmp_path / "sock"
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(path))
        with pytest.raises(OutputError, match="it is a socket"):
            files.write_text(str(path), "x")


def _in_read_only(folder: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    """argv in a mount namespace where `folder` is a read-only bind mount."""
    unshare = shutil.which("unshare")
    script = 'mount --make-rprivate / && mount --bind -o ro "$0" "$0" && exec "$@"'
    if (
        unshare is None
        or subprocess.run(
            [unshare, "-m", "sh", "-c", script, str(folder), "true"], check=False
        ).returncode
    ):
        pytest.skip("cannot make a mount namespace here")
    return subprocess.run(
        [unshare, "-m", "sh", "-c", script, str(folder), *argv],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


def test_a_failed_write_leaves_the_old_file_and_nothing_else(tmp_path: Path) -> None:
    out = tmp_path / "loop_setup.py"
    out.write_text("# the module in production\n")
    done = _in_read_only(
        tmp_path, sys.executable, "-m", "iodetect", "snippet", "--facts", FACTS, "-o", str(out)
    )
    assert done.returncode == 2
    assert "Read-only file system" in one_line_error(done)
    assert out.read_text() == "# the module in production\n"
    assert leftovers(tmp_path, {"loop_setup.py"}) == []


def test_a_failed_verify_leaves_the_old_file(tmp_path: Path) -> None:
    unshare = shutil.which("unshare")
    if unshare is None or subprocess.run([unshare, "-n", "true"], check=False).returncode:
        pytest.skip("cannot make a network namespace without loopback here")
    out = tmp_path / "loop_setup.py"
    out.write_text("# the module in production\n")
    python = f"{unshare} -n {sys.executable}"
    done = run_cli("snippet", "--verify", "--python", python, "-o", str(out), timeout=90)
    assert done.returncode == 1
    assert out.read_text() == "# the module in production\n"
    assert leftovers(tmp_path, {"loop_setup.py"}) == []


def test_bench_save_writes_safely_and_keeps_no_secret(tmp_path: Path) -> None:
    real = tmp_path / "run.json"
    real.write_text("{}\n")
    real.chmod(0o600)
    link = tmp_path / "latest.json"
    link.symlink_to(real)
    python = f"env TOKEN=hunter2 {sys.executable}"
    done = run_cli(
        "bench",
        "--loops",
        "selectors",
        "--selectors",
        "epoll",
        "--workloads",
        "pingpong",
        "--rounds",
        "1",
        "--duration",
        "0.05",
        "--windows",
        "1",
        "--budget",
        "0",
        "--python",
        python,
        "--save",
        str(link),
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert link.is_symlink() and stat.S_IMODE(real.stat().st_mode) == 0o600
    text = real.read_text()
    assert json.loads(text)["kind"] == "iodetect.bench"
    assert "hunter2" not in text and "hunter2" not in done.stdout + done.stderr
    assert leftovers(tmp_path, {"run.json", "latest.json"}) == []


# --- reading -------------------------------------------------------------------------------------


def _fifo(tmp_path: Path) -> str:
    path = tmp_path / "fifo"
    os.mkfifo(path)
    return str(path)


@pytest.mark.parametrize(
    "args",
    [
        ("report", "--facts", "{fifo}"),
        ("report", "--facts", "/dev/zero"),
        ("snippet", "--bench", "{fifo}"),
        ("check", "--snippet", "{fifo}"),
        ("check", "--snippet", "/dev/zero"),
        ("bench", "--show", "{fifo}"),
        ("bench", "--show", "/dev/zero"),
    ],
)
def test_a_fifo_or_a_device_is_refused_at_once(tmp_path: Path, args: tuple[str, ...]) -> None:
    fifo = _fifo(tmp_path)
    start = time.monotonic()
    done = run_cli(*(a.format(fifo=fifo) for a in args), timeout=30)
    assert time.monotonic() - start < 20
    assert done.returncode == 2 and done.stdout == ""
    assert "not a regular file" in one_line_error(done)


def test_files_over_the_size_limit_are_refused(tmp_path: Path) -> None:
    for name, limit, args in (
        ("facts.json", files.FACTS_LIMIT, ("report", "--facts")),
        ("loop_setup.py", files.SOURCE_LIMIT, ("check", "--snippet")),
        ("run.json", files.BENCH_LIMIT, ("bench", "--show")),
    ):
        path = tmp_path / name
        with open(path, "wb") as fh:
            fh.truncate(limit + 1)  # sparse: no disk used
        done = run_cli(*args, str(path), timeout=30)
        assert done.returncode == 2, (name, done.stderr)
        assert "more than the" in one_line_error(done)


def test_read_bytes_takes_exactly_the_limit(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"x" * 100)
    assert files.read_bytes(str(path), "f", 100) == b"x" * 100
    with pytest.raises(InputError, match="more than the 99 bytes"):
        files.read_bytes(str(path), "f", 99)


def _facts_text(schema_version: str = "1", nofile_soft: str | None = None) -> str:
    """The Linux facts as JSON text, with a schema_version and a soft limit spelled as given
    (json.dumps cannot write 1.0 for 1, nor a 5000-digit integer that json.loads refuses)."""
    data = json.loads(Path(FACTS).read_text("utf-8"))
    data["schema_version"] = "@@VERSION@@"
    if nofile_soft is not None:
        data["limits"]["nofile_soft"] = "@@SOFT@@"
    text = json.dumps(data).replace('"@@VERSION@@"', schema_version)
    return text.replace('"@@SOFT@@"', nofile_soft or "")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (_facts_text("1.0"), "unsupported facts schema_version 1.0"),
        (_facts_text("true"), "unsupported facts schema_version True"),
        (_facts_text("1", "9" * 5000), "integer of 5000 digits"),
        (_facts_text("1", "NaN"), "NaN is not a JSON number"),
    ],
    ids=["1.0", "true", "5000-digits", "nan"],
)
def test_facts_that_only_look_right_are_refused(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "facts.json"
    path.write_text(text)
    assert run_cli("report", "--facts", str(path), timeout=30).returncode == 2
    for args in (("report",), ("snippet",)):
        done = run_cli(*args, "--facts", str(path), timeout=30)
        assert done.returncode == 2
        assert message in one_line_error(done)


@pytest.mark.parametrize("version", ["1.0", "true", "9" * 5000])
def test_bench_files_that_only_look_right_are_refused(tmp_path: Path, version: str) -> None:
    from iodetect.bench import BENCH_SCHEMA_VERSION

    exact = str(BENCH_SCHEMA_VERSION)
    shown = version.replace("1.0", f"{exact}.0")
    path = tmp_path / "run.json"
    path.write_text('{"kind": "iodetect.bench", "schema_version": ' + shown + "}")
    done = run_cli("bench", "--show", str(path), timeout=30)
    assert done.returncode == 2
    line = one_line_error(done)
    assert "schema_version" in line or "digits" in line
