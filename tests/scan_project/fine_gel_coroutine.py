import asyncio


async def main():
    loop = asyncio.get_event_loop()  # the running loop: fine on every version
    return loop


asyncio.run(main())
