import uvloop

policy_class = uvloop.EventLoopPolicy
