import asynchat  # noqa: F401
