import asyncio

fut = asyncio.Future()
fut.get_loop().close()
