import asyncio

asyncio.set_event_loop(None)
asyncio.get_event_loop()
