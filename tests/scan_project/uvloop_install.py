import uvloop

uvloop.install()
