"""The application of the servers test (written as app.py): it says which loop serves it.

Every answer is read inside the running loop: the loop's class and package, its selector, the soft
descriptor limit. Each process also records that at start-up (ASGI lifespan, aiohttp on_startup)
in records/PID.json, so every worker of a multi-process server is seen, not just the one that
answers. Standard library only, apart from aiohttp in make_app().
"""

import asyncio
import json
import os
import resource
import sys

MARKER = "first"  # the servers test rewrites it to see uvicorn --reload restart the server


def loop_info():
    loop = asyncio.get_running_loop()
    selector = getattr(loop, "_selector", None)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return {
        "pid": os.getpid(),
        "python": "%d.%d" % sys.version_info[:2],
        "loop_class": type(loop).__name__,
        "loop_package": type(loop).__module__.partition(".")[0],
        "selector_class": None if selector is None else type(selector).__name__,
        "nofile_soft": soft,
        "nofile_hard": hard,
        "marker": MARKER,
    }


def record():
    os.makedirs("records", exist_ok=True)
    path = os.path.join("records", "%d.json" % os.getpid())
    with open(path + ".tmp", "w") as fh:
        json.dump(loop_info(), fh)
    os.replace(path + ".tmp", path)


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                record()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    body = json.dumps(loop_info()).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def make_app():
    from aiohttp import web

    async def handle(request):
        return web.json_response(loop_info())

    async def on_startup(application):
        record()

    application = web.Application()
    application.router.add_get("/", handle)
    application.on_startup.append(on_startup)
    return application
