# The select-based selector with a descriptor above FD_SETSIZE (1024).
import os
import selectors


def watch(selector, fd):
    selector.register(fd, selectors.EVENT_READ)
    return selector.select(0)


r, w = os.pipe()
high = os.dup2(r, 1500)
try:
    watch(selectors.SelectSelector(), high)
finally:
    os.close(high)
    os.close(r)
    os.close(w)
