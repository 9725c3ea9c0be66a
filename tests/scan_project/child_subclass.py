import asyncio


class Watcher(asyncio.AbstractChildWatcher):
    pass
