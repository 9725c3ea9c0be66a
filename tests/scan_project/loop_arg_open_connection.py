import asyncio


async def main():
    server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        _, writer = await asyncio.open_connection(
            "127.0.0.1", port, loop=asyncio.get_running_loop()
        )
        writer.close()
    finally:
        server.close()
        await server.wait_closed()


asyncio.run(main())
