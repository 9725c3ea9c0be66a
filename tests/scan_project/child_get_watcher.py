import asyncio

asyncio.get_child_watcher()
