"""Shared fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest
from processes import reaper  # noqa: F401 - a fixture: kills what a test left running

from support import HOST_NAMES, HOSTS


@pytest.fixture(params=HOST_NAMES)
def host_file(request: pytest.FixtureRequest) -> Path:
    """Each fixture host's facts file (Linux probed here; the others documented)."""
    return HOSTS / f"{request.param}.json"
