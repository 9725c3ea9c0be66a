import asyncio

watcher = asyncio.SafeChildWatcher()
