from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from asyncio import AbstractChildWatcher, DefaultEventLoopPolicy  # noqa: F401


def f(policy: "DefaultEventLoopPolicy") -> None:
    return None
