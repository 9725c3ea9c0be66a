import asyncio

cls = asyncio.PidfdChildWatcher
