import asyncio


async def main():
    asyncio.Queue(loop=asyncio.get_running_loop())


asyncio.run(main())
