# select() on a descriptor above FD_SETSIZE (1024), as a service that raised its limit has.
import os
import select

r, w = os.pipe()
high = os.dup2(r, 1500)
try:
    select.select([high], [], [], 0)
finally:
    os.close(high)
    os.close(r)
    os.close(w)
