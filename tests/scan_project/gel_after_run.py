import asyncio


async def main():
    return 1


asyncio.run(main())
loop = asyncio.get_event_loop()
