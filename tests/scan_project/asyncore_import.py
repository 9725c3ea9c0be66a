import asyncore  # noqa: F401
