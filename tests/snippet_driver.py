"""Target-side driver for generated loop_setup modules: a real TCP echo through their run().

Standard library only, CPython 3.8+. The module source travels inside the program (chroot
interpreters cannot see host files); the result is one MARKER line of JSON.
"""

import asyncio
import importlib.abc
import importlib.util
import json
import sys

MARKER = "@@iodetect@@ "


class _SourceLoader(importlib.abc.SourceLoader):
    """Imports the module from a string with a real spec, as a file import would."""

    def __init__(self, source):
        self.source = source

    def get_filename(self, fullname):
        return "loop_setup.py"

    def get_data(self, path):
        return self.source.encode("utf-8")


def load(source):
    spec = importlib.util.spec_from_loader("loop_setup", _SourceLoader(source))
    mod = importlib.util.module_from_spec(spec)
    sys.modules["loop_setup"] = mod
    spec.loader.exec_module(mod)
    return mod


async def handle(reader, writer):
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    finally:
        writer.close()
        await writer.wait_closed()


async def echo(payload_size):
    loop = asyncio.get_running_loop()
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 10)
        payload = bytes(range(256)) * (payload_size // 256)
        writer.write(payload)
        await writer.drain()
        got = await asyncio.wait_for(reader.readexactly(len(payload)), 10)
        writer.close()
        await writer.wait_closed()
    finally:
        server.close()
        await server.wait_closed()
    selector = getattr(loop, "_selector", None)
    return {
        "echo_ok": got == payload,
        "bytes": len(got),
        "loop_class": type(loop).__name__,
        "loop_package": type(loop).__module__.partition(".")[0],
        "selector_class": type(selector).__name__ if selector is not None else None,
    }


def nofile_soft():
    try:
        import resource
    except ImportError:
        return None
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def main(params):
    before = nofile_soft()
    mod = load(params["source"])
    after_import = nofile_soft()
    result = mod.run(echo(params.get("payload", 1 << 20)))
    result["nofile_before"] = before
    result["nofile_after_import"] = after_import
    factory_loop = mod.new_event_loop()
    try:
        result["factory_class"] = type(factory_loop).__name__
    finally:
        factory_loop.close()
    result["public"] = sorted(
        name
        for name, value in vars(mod).items()
        if not name.startswith("_")
        and type(value).__name__ == "function"
        and value.__module__ == "loop_setup"
    )
    result["python"] = "%d.%d" % sys.version_info[:2]
    result["nofile_soft"] = nofile_soft()
    print(MARKER + json.dumps(result))
