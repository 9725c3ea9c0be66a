# The closing lines of the classic answer: get the loop, run the server on it.
import asyncio


async def handle(reader, writer):
    writer.close()


async def start():
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    server.close()
    await server.wait_closed()


loop = asyncio.get_event_loop()
loop.run_until_complete(start())
loop.close()
