try:
    import asyncore
except ImportError:
    asyncore = None
