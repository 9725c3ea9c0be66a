"""The real interpreters on this machine, found for the tests: CPython 3.8-3.15 and PyPy 3.

3.8-3.13 come from pyenv or PATH; 3.14, 3.15 and PyPy from the `sid-python` chroot tool (files of
the host are not visible inside it, so target programs always travel on stdin). Each CPython can
also be given uvloop, installed once into a cached virtual environment of its own.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

VERSIONS = ("3.8", "3.9", "3.10", "3.11", "3.12", "3.13", "3.14", "3.15")
PYPY = "pypy"  # find(PYPY): Debian's pypy3, through sid-python
TARGETS = (*VERSIONS, PYPY)  # every interpreter the target-side code must run on
ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("IODETECT_TEST_CACHE", Path.home() / ".cache" / "iodetect-tests"))
SID_TOOL = Path(
    os.environ.get("IODETECT_SID_PYTHON", ROOT.parent / "shared" / "tools" / "sid-python")
)
SID_VENVS = "/opt/iodetect-tests"  # inside the chroot


@dataclass(frozen=True)
class Interp:
    version: str  # "3.12", or "pypy"
    argv: tuple[str, ...]  # runs the interpreter; flags may follow
    chroot: bool = False  # a sid-python interpreter: host files are not visible to it
    language: str = ""  # the Python version it implements ("3.11" for PyPy 3.11)

    @property
    def name(self) -> str:
        return f"PyPy {self.language}" if self.version == PYPY else f"CPython {self.version}"

    def command(self, *flags: str) -> list[str]:
        """argv that runs this interpreter with `flags` and reads the program from stdin."""
        return [*self.argv, *flags]

    def uvloop_command(self, *flags: str) -> list[str] | None:
        """argv for this interpreter with uvloop importable, or None when it cannot be had."""
        return self.package_command("uvloop", *flags)

    def package_command(self, package: str, *flags: str) -> list[str] | None:
        """argv for this interpreter in a venv with `package` (uvloop, rloop), or None."""
        return _package_command(self, package, flags)


def _pyenv_python(version: str) -> str | None:
    root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    if root.is_dir():
        found = sorted(root.glob(f"{version}.*/bin/python{version}"))
        for cand in reversed(found):
            if os.access(cand, os.X_OK):
                return str(cand)
    return None


def _works(argv: list[str], version: str) -> bool:
    try:
        out = subprocess.run(
            [*argv, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.returncode == 0 and out.stdout.strip() == version


def _pypy_language(argv: list[str]) -> str | None:
    """The Python version a PyPy implements, or None when `argv` does not run a PyPy."""
    try:
        out = subprocess.run(
            [
                *argv,
                "-c",
                "import sys; print(sys.implementation.name, '%d.%d' % sys.version_info[:2])",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    name, _, language = out.stdout.strip().partition(" ")
    return language if out.returncode == 0 and name == "pypy" else None


@functools.lru_cache(maxsize=None)
def find(version: str) -> Interp | None:
    """The interpreter for `version` (or PYPY), or None when this machine does not have it."""
    if version == PYPY:
        if SID_TOOL.exists() and os.geteuid() == 0:
            argv = [str(SID_TOOL), "exec", "pypy3"]
            language = _pypy_language(argv)
            if language is not None:
                return Interp(PYPY, tuple(argv), chroot=True, language=language)
        return None
    if version in ("3.14", "3.15"):
        if SID_TOOL.exists() and os.geteuid() == 0:
            argv = [str(SID_TOOL), "exec", version]
            if _works(argv, version):
                return Interp(version, tuple(argv), chroot=True, language=version)
        return None
    for cand in (_pyenv_python(version), shutil.which(f"python{version}")):
        if cand and _works([cand], version):
            return Interp(version, (cand,), language=version)
    return None


def require(version: str) -> Interp:
    """The interpreter for `version`, or skip the test and say which one is absent."""
    interp = find(version)
    if interp is None:
        what = "PyPy" if version == PYPY else f"CPython {version}"
        pytest.skip(f"{what} is not available on this machine")
    return interp


def available() -> list[Interp]:
    return [i for v in VERSIONS if (i := find(v)) is not None]


@functools.lru_cache(maxsize=None)
def _package_env(interp: Interp, package: str) -> str | None:
    """The python of a cached venv with `package` for this interpreter (created on first use)."""
    if interp.chroot:
        venv = f"{SID_VENVS}/{package}-{interp.version}"
        cert = _wheels_for_chroot(interp.version, package)
        script = (
            "import os, subprocess, sys\n"
            f"v = {venv!r}\n"
            "if not os.path.exists(v + '/.ok'):\n"
            "    subprocess.run([sys.executable, '-m', 'venv', v], check=True)\n"
            "    subprocess.run([v + '/bin/python', '-m', 'pip', 'install', '-q',\n"
            f"                    '--disable-pip-version-check', *{cert!r}, {package!r}],\n"
            "                   check=True)\n"
            "    open(v + '/.ok', 'w').close()\n"
        )
        argv = [*interp.argv, "-c", script]
        python = f"{venv}/bin/python"
    else:
        venv_path = CACHE / f"{package}-{interp.version}"
        python = str(venv_path / "bin" / "python")
        if (venv_path / ".ok").exists():
            return python
        argv = [
            interp.argv[0],
            "-c",
            "import subprocess, sys\n"
            f"subprocess.run([sys.executable, '-m', 'venv', {str(venv_path)!r}], check=True)\n"
            f"subprocess.run([{python!r}, '-m', 'pip', 'install', '-q',"
            f" '--disable-pip-version-check', {package!r}], check=True)\n"
            f"open({str(venv_path / '.ok')!r}, 'w').close()\n",
        ]
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    return python


def _wheels_for_chroot(version: str, package: str) -> list[str]:
    """pip options that install `package` in the chroot from a wheel this host downloads.

    The chroot cannot reach the package index itself (a TLS proxy here re-signs traffic with a
    CA that only the host trusts), so the host's pip fetches the wheel into the chroot.
    """
    root = subprocess.run(
        [str(SID_TOOL), "path"], capture_output=True, text=True, timeout=30, check=False
    ).stdout.strip()
    if not root:
        return []
    dest = Path(root + SID_VENVS) / "wheels"
    dest.mkdir(parents=True, exist_ok=True)
    platforms = [
        f"--platform={p}"
        for p in ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64")
    ]
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "-q",
            "--no-deps",
            "--only-binary=:all:",
            f"--python-version={version}",
            *platforms,
            "-d",
            str(dest),
            package,
        ],
        capture_output=True,
        timeout=300,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    return ["--no-index", "--find-links", f"{SID_VENVS}/wheels"]


def _package_command(interp: Interp, package: str, flags: tuple[str, ...]) -> list[str] | None:
    python = _package_env(interp, package)
    if python is None:
        return None
    if interp.chroot:
        # Only /usr/bin/python3.X can be started by the tool; it hands over to the venv's python.
        hand_over = f"import os; os.execv({python!r}, [{python!r}, *{list(flags)!r}, '-'])"
        return [*interp.argv, "-c", hand_over]
    return [python, *flags]


def require_package(interp: Interp, package: str, *flags: str) -> list[str]:
    """argv with `package` importable, or skip the test and say why."""
    cmd = interp.package_command(package, *flags)
    if cmd is None:
        pytest.skip(f"{package} cannot be installed for {interp.name} here")
    return cmd
