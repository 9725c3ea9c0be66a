import asyncio


async def main():
    await asyncio.sleep(0.001, loop=asyncio.get_running_loop())


asyncio.run(main())
