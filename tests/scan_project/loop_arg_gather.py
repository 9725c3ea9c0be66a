import asyncio


async def main():
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    done.set_result(1)
    # 3.8 warns about gather's loop= only when it is given no awaitables; 3.9 on every call.
    await asyncio.gather(done, loop=loop)


asyncio.run(main())
