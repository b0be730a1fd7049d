"""A raw wslink client for attack tests and the soak: any ``Origin``, any secret, any RPC with any arguments.

The trame page only sends what its widgets send; a hostile client sends anything. This client speaks the
wslink protocol (msgpack frames, ``wslink.hello`` then RPC calls) over aiohttp, as the trame client does,
and returns a server error as a value instead of raising, so a test can look at what the client was told.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

__all__ = ["WsProbe", "hello_rejected"]


class WsProbe:
    """One websocket connection to a consultation server.

    Parameters
    ----------
    port : int
        The server's port on 127.0.0.1.
    origin : str, optional
        ``Origin`` header to send (None: none, like a non-browser client).
    host : str, optional
        ``Host`` header to send (default ``127.0.0.1:PORT``).
    """

    def __init__(self, port: int, origin: str | None = None, host: str | None = None):
        self.url = f"http://127.0.0.1:{port}/ws"
        self.headers = {"Host": host or f"127.0.0.1:{port}"}
        if origin is not None:
            self.headers["Origin"] = origin
        self.state: dict[str, Any] = {}
        self._http = self._ws = self._session = self._listen = None

    async def __aenter__(self) -> WsProbe:
        import aiohttp
        from trame_server.client import WsLinkSession

        self._http = aiohttp.ClientSession()
        try:
            self._ws = await self._http.ws_connect(self.url, headers=self.headers, max_msg_size=0)
        except BaseException:
            await self._http.close()
            raise
        self._session = WsLinkSession(self._ws)
        self._session.register_subscription("trame.state.topic", self.state.update)
        self._listen = asyncio.ensure_future(self._session.listen())
        return self

    async def __aexit__(self, *exc) -> None:
        with contextlib.suppress(Exception):
            await self._ws.close()
        if self._listen is not None:
            self._listen.cancel()
            with contextlib.suppress(BaseException):
                await self._listen
        await self._http.close()

    async def hello(self, secret: Any, timeout_s: float = 30.0) -> dict:
        """Authenticate; ``{"result": client id}`` or ``{"error": ...}``."""
        fut = await self._session.auth(secret=secret)
        return await self._wait(fut, timeout_s)

    async def call(self, method: str, args: list | None = None, timeout_s: float = 30.0) -> dict:
        """Call an RPC; ``{"result": value}`` or ``{"error": what the server said}``."""
        fut = await self._session.call(method, args or [])
        return await self._wait(fut, timeout_s)

    async def update(self, **changes) -> dict:
        """Send state changes the way the page does (``trame.state.update``)."""
        return await self.call("trame.state.update", [[{"key": k, "value": v} for k, v in changes.items()]])

    @staticmethod
    async def _wait(fut, timeout_s: float) -> dict:
        try:
            return {"result": await asyncio.wait_for(fut, timeout_s)}
        except TimeoutError:
            return {"error": "timeout"}
        except Exception as exc:  # the server's error payload, as the client saw it
            return {"error": exc.args[0] if exc.args else repr(exc)}


async def hello_rejected(port: int, secret: Any, origin: str | None = None) -> bool:
    """Whether the server refuses a hello with ``secret`` (or refuses the connection outright)."""
    import aiohttp

    try:
        async with WsProbe(port, origin=origin) as ws:
            return "error" in await ws.hello(secret)
    except aiohttp.WSServerHandshakeError:
        return True
