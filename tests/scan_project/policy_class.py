import asyncio


class Policy(asyncio.DefaultEventLoopPolicy):
    pass
