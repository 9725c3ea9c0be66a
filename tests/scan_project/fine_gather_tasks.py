import asyncio


async def one():
    return 1


def main():
    loop = asyncio.new_event_loop()
    tasks = [loop.create_task(one()), loop.create_task(one())]
    # gather() of tasks takes their loop: no get_event_loop() behind it
    loop.run_until_complete(asyncio.gather(*tasks))
    loop.close()


main()
