from asyncio import AbstractEventLoopPolicy  # noqa: F401
