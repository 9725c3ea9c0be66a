import asyncio


async def main():
    asyncio.Task.current_task()


asyncio.run(main())
