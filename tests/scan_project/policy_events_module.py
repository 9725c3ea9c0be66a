import asyncio.events

base = asyncio.events.AbstractEventLoopPolicy
