"""A scriptable exchange on 127.0.0.1 (port 0) speaking real WebSocket and HTTP, for tests.

Tests never touch a real exchange host: they point liqtui's configurable URLs here.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from aiohttp import WSMsgType, web

from liqtui.config import Endpoint, Feeds, Settings

WsHandler = Callable[[web.WebSocketResponse, web.Request, "Loopback"], Awaitable[None]]
RestHandler = Callable[[web.Request, "Loopback"], Awaitable[web.StreamResponse]]


class Loopback:
    """Routes may be added before or after start(): one catch-all route dispatches them."""

    def __init__(self) -> None:
        self.app = web.Application()
        self.app.router.add_route("*", "/{tail:.*}", self._dispatch)
        self.runner: web.AppRunner | None = None
        self.port = 0
        self.ws_connections = 0
        self.received: list[str] = []  # every text frame clients sent
        self.requests: list[str] = []  # every HTTP path + query requested
        self.open_sockets: set[web.WebSocketResponse] = set()
        self._ws: dict[str, WsHandler] = {}
        self._rest: dict[tuple[str, str], RestHandler | Any] = {}

    # -- routes -------------------------------------------------------------------------------
    def ws(self, path: str, handler: WsHandler) -> None:
        self._ws[path] = handler

    def rest(self, path: str, handler: RestHandler | Any, method: str = "GET") -> None:
        self._rest[(method, path)] = handler

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        if request.headers.get("Upgrade", "").lower() == "websocket" and request.path in self._ws:
            return await self._serve_ws(request, self._ws[request.path])
        handler = self._rest.get((request.method, request.path))
        if handler is None:
            raise web.HTTPNotFound()
        self.requests.append(request.path_qs)
        if callable(handler):
            return await handler(request, self)
        return web.json_response(handler)

    async def _serve_ws(self, request: web.Request, handler: WsHandler) -> web.StreamResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self.ws_connections += 1
        self.open_sockets.add(ws)
        try:
            await handler(ws, request, self)
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self.open_sockets.discard(ws)
        return ws

    # -- lifecycle ----------------------------------------------------------------------------
    async def start(self) -> Loopback:
        self.runner = web.AppRunner(self.app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def close(self) -> None:
        for ws in list(self.open_sockets):
            await ws.close()
        if self.runner is not None:
            await self.runner.cleanup()

    async def __aenter__(self) -> Loopback:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_base(self) -> str:
        return f"ws://127.0.0.1:{self.port}"


async def read_frames(ws: web.WebSocketResponse, loop: Loopback) -> None:
    """Drain client frames (subscriptions, pings) into loop.received until the socket closes."""
    async for msg in ws:
        if msg.type == WSMsgType.TEXT:
            loop.received.append(msg.data)
        else:
            break


async def send_json(ws: web.WebSocketResponse, obj: object) -> None:
    await ws.send_str(json.dumps(obj))


def loopback_settings(
    endpoints: dict[str, Endpoint], *, exchanges: list[str] | None = None, **feeds: str
) -> Settings:
    """Settings whose exchange URLs point at loopback servers; short timings for tests."""
    base = Settings()
    feed_settings = msgspec.structs.replace(
        Feeds(),
        exchanges=exchanges or list(endpoints),
        reconnect_initial=feeds.pop("reconnect_initial", "50ms"),
        reconnect_max=feeds.pop("reconnect_max", "200ms"),
        **feeds,
    )
    exchanges = {**base.exchanges, **endpoints}
    return msgspec.structs.replace(base, feeds=feed_settings, exchanges=exchanges)


async def wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    """Poll `predicate` until true; fail the test with a clear message on timeout."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached within the timeout")
        await asyncio.sleep(0.01)


async def stop(task: asyncio.Task[Any]) -> None:
    """Cancel `task` and wait until it has ended."""
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def free_port() -> int:
    """A loopback port nothing listens on: connections to it are refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
