# The part of winloop's API a generated loop_setup module uses, for mypy where winloop (Windows
# only) cannot be installed: Vizonex/Winloop winloop/__init__.py, new_event_loop() -> Loop.
import asyncio

def new_event_loop() -> asyncio.AbstractEventLoop: ...
