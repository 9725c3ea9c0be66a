# The part of rloop's API a generated loop_setup module uses, for mypy where rloop is not
# installed: gi0baro/rloop rloop/__init__.py, new_event_loop() -> RLoop.
import asyncio

def new_event_loop() -> asyncio.AbstractEventLoop: ...
