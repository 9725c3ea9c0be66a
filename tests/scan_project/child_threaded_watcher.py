import asyncio

watcher = asyncio.ThreadedChildWatcher()
