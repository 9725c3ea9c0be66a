# Fine from 3.10.9/3.11.1 on; only 3.10.0-3.10.8 and 3.11.0 warned even with a loop set.
import asyncio

loop = asyncio.new_event_loop()
asyncio.set_event_loop(loop)
assert asyncio.get_event_loop() is loop
asyncio.set_event_loop(None)
loop.close()
