import asyncio
import sys
import warnings

if sys.version_info < (3, 14):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        loop = asyncio.get_event_loop()
    loop.close()
