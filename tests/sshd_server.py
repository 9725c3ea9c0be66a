"""A real OpenSSH server on 127.0.0.1 for the tests: a throwaway host key, one authorized key.

Debian's openssh-server (`apt-get install -y openssh-server`; .ci/run installs it) runs in the
foreground (`sshd -D -e`) on a free port, with everything in a temporary folder: the host
key, the client key, the authorized keys and the log. PAM and the permission checks on those
files are off, so it runs without touching the system's configuration. `start()` gives the
server, or the reason it cannot be had, for the tests to skip with.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import shlex
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

SSHD_PATHS = ("/usr/sbin/sshd", "/usr/local/sbin/sshd")
START_DEADLINE = 30.0


@dataclass
class Sshd:
    port: int
    key: Path  # the client's private key, authorized for `user`
    user: str
    folder: Path
    proc: subprocess.Popen[bytes]

    def argv(self) -> list[str]:
        """ssh to the server, batch mode, no host key prompt or record; a remote command follows."""
        return [
            "ssh",
            "-p",
            str(self.port),
            "-i",
            str(self.key),
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "LogLevel=ERROR",
            "-o",
            "ConnectTimeout=20",
            f"{self.user}@127.0.0.1",
        ]

    def command(self, remote: str = "python3") -> str:
        """A --python command line: the interpreter `remote` starts on the server."""
        return shlex.join(self.argv()) + " " + remote

    def log(self) -> str:
        try:
            return (self.folder / "sshd.log").read_text(errors="replace")[-2000:]
        except OSError:
            return ""


def _sshd() -> str | None:
    found = shutil.which("sshd")
    if found:
        return found
    return next((p for p in SSHD_PATHS if os.access(p, os.X_OK)), None)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def start(folder: Path) -> Sshd | str:
    """The running server, or why there cannot be one (a sentence for pytest.skip)."""
    sshd = _sshd()
    if sshd is None:
        return "openssh-server is not installed (apt-get install -y openssh-server)"
    for tool in ("ssh", "ssh-keygen"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (apt-get install -y openssh-client)"
    try:
        os.makedirs("/run/sshd", exist_ok=True)  # sshd's privilege separation directory
    except OSError as exc:
        return f"sshd needs /run/sshd, which cannot be made here: {exc.strerror}"
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("host_key", "client_key"):
        done = subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(folder / name)],
            capture_output=True,
            text=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
        )
        if done.returncode != 0:
            return f"ssh-keygen failed: {done.stderr.strip()}"
    shutil.copy(folder / "client_key.pub", folder / "authorized_keys")
    user = getpass.getuser()
    reason = "sshd did not start"
    for _ in range(3):  # a free port may be taken between the probe and sshd's bind
        port = _free_port()
        config = folder / "sshd_config"
        config.write_text(
            f"Port {port}\n"
            "ListenAddress 127.0.0.1\n"
            f"HostKey {folder / 'host_key'}\n"
            f"PidFile {folder / 'sshd.pid'}\n"
            f"AuthorizedKeysFile {folder / 'authorized_keys'}\n"
            "UsePAM no\n"
            "StrictModes no\n"
            "PermitRootLogin prohibit-password\n"
            "PubkeyAuthentication yes\n"
            "PasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\n"
            "PrintMotd no\n"
            "PrintLastLog no\n"
            "MaxStartups 64:30:128\n"
            "MaxSessions 64\n"
            "Subsystem sftp internal-sftp\n"
        )
        log = open(folder / "sshd.log", "ab")  # noqa: SIM115 - kept open for the server's life
        try:
            proc = subprocess.Popen(
                [sshd, "-f", str(config), "-D", "-e"],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        finally:
            log.close()
        server = Sshd(port, folder / "client_key", user, folder, proc)
        problem = _wait_ready(server)
        if problem is None:
            return server
        stop(server)
        reason = problem
    return reason


def _wait_ready(server: Sshd) -> str | None:
    """None once a login runs a command; else why not (sshd exited, or the deadline passed)."""
    deadline = time.monotonic() + START_DEADLINE
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            return f"sshd exited with status {server.proc.returncode}: {server.log().strip()}"
        try:
            done = subprocess.run(
                [*server.argv(), "true"],
                capture_output=True,
                timeout=20,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired:
            continue
        if done.returncode == 0:
            return None
        time.sleep(0.2)
    return f"sshd did not accept a login within {START_DEADLINE:g} s: {server.log().strip()}"


def stop(server: Sshd) -> None:
    """Stop the server and every session it started."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(server.proc.pid, signal.SIGTERM)
    try:
        server.proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(server.proc.pid, signal.SIGKILL)
        server.proc.wait(timeout=10)
