import asyncio

asyncio.iscoroutinefunction(len)
