import asyncio

loop = asyncio.get_event_loop_policy().get_event_loop()
loop.close()
