"""iodetect: which I/O mechanism and asyncio event loop a service should use here, with evidence."""

from __future__ import annotations

__version__ = "0.1.0"
