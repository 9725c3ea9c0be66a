"""`python -m iodetect`."""

from __future__ import annotations

from iodetect.cli import main

if __name__ == "__main__":
    main()
