"""Shared fixtures."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from processes import reaper  # noqa: F401 - a fixture: kills what a test left running

import sshd_server
from support import HOST_NAMES, HOSTS


@pytest.fixture(params=HOST_NAMES)
def host_file(request: pytest.FixtureRequest) -> Path:
    """Each fixture host's facts file (Linux probed here; the others documented)."""
    return HOSTS / f"{request.param}.json"


@pytest.fixture(scope="session")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sshd_server.Sshd]:
    """A real OpenSSH server on 127.0.0.1, stopped at the end even when tests fail; or a skip
    that says why there cannot be one."""
    server = sshd_server.start(tmp_path_factory.mktemp("sshd"))
    if isinstance(server, str):
        pytest.skip(f"no ssh target: {server}")
    try:
        yield server
    finally:
        sshd_server.stop(server)
