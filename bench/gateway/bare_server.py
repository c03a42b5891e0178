"""A bare aiohttp hello-world: the baseline the gateway's full path is compared with."""

import sys

from aiohttp import web


async def hello(_: web.Request) -> web.Response:
    return web.json_response({"data": {"hello": "world"}})


app = web.Application()
app.router.add_get("/hello", hello)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)
