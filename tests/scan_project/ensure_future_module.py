import asyncio


async def work():
    return 1


fut = asyncio.ensure_future(work())
loop = fut.get_loop()
loop.run_until_complete(fut)
loop.close()
