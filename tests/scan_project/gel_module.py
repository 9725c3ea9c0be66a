import asyncio

loop = asyncio.get_event_loop()
loop.close()
