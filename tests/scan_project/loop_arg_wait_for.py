import asyncio


async def main():
    await asyncio.wait_for(asyncio.sleep(0), 1, loop=asyncio.get_running_loop())


asyncio.run(main())
