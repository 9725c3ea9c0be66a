"""Reference echo servers in Python, independent of iodetect: one per variant of the bench.

    python servers.py threads
    python servers.py asyncio-protocol [--selector epoll|poll|select]
    python servers.py asyncio-streams | uvloop-protocol | uvloop-streams

Listens on 127.0.0.1, an ephemeral port, and prints the port on stdout once it accepts.
"""

from __future__ import annotations

import argparse
import asyncio
import selectors
import socket
import sys
import threading

CHUNK = 262144


def listener() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    return sock


def announce(sock: socket.socket) -> None:
    print(sock.getsockname()[1], flush=True)


def nodelay(sock: socket.socket) -> None:
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def serve_threads(lsock: socket.socket) -> None:
    def handle(conn: socket.socket) -> None:
        with conn:
            while True:
                data = conn.recv(CHUNK)
                if not data:
                    return
                conn.sendall(data)

    threading.stack_size(256 * 1024)
    announce(lsock)
    while True:
        conn, _ = lsock.accept()
        nodelay(conn)
        threading.Thread(target=handle, args=(conn,), daemon=True).start()


class Echo(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        nodelay(transport.get_extra_info("socket"))

    def data_received(self, data: bytes) -> None:
        self.transport.write(data)  # type: ignore[attr-defined]


async def handle_stream(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    nodelay(writer.get_extra_info("socket"))
    try:
        while True:
            data = await reader.read(CHUNK)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


def serve_loop(lsock: socket.socket, loop: asyncio.AbstractEventLoop, style: str) -> None:
    asyncio.set_event_loop(loop)
    if style == "protocol":
        loop.run_until_complete(loop.create_server(Echo, sock=lsock, backlog=1024))
    else:
        loop.run_until_complete(asyncio.start_server(handle_stream, sock=lsock, backlog=1024))
    announce(lsock)
    loop.run_forever()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("variant")
    ap.add_argument("--selector", default="epoll", choices=("epoll", "poll", "select"))
    args = ap.parse_args()
    lsock = listener()
    if args.variant == "threads":
        serve_threads(lsock)
        return
    name, _, style = args.variant.partition("-")
    if style not in ("protocol", "streams"):
        sys.exit(f"unknown variant {args.variant}")
    if name == "uvloop":
        import uvloop

        loop = uvloop.new_event_loop()
    elif name == "asyncio":
        chosen = {
            "epoll": selectors.EpollSelector,
            "poll": selectors.PollSelector,
            "select": selectors.SelectSelector,
        }[args.selector]
        loop = asyncio.SelectorEventLoop(chosen())
    else:
        sys.exit(f"unknown variant {args.variant}")
    serve_loop(lsock, loop, style)


if __name__ == "__main__":
    main()
