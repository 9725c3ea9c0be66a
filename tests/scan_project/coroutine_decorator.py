import asyncio


@asyncio.coroutine
def legacy():
    yield
