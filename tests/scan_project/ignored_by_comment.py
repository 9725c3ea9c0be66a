import asyncio

loop = asyncio.get_event_loop()  # iodetect: ignore
loop.close()
