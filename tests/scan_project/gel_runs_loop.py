import asyncio


async def work():
    return 1


def serve():
    loop = asyncio.get_event_loop()
    try:
        loop.run_until_complete(work())
    finally:
        loop.close()


serve()
