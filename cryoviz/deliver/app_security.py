"""Who may talk to the consultation server, and what one client message may do to it.

The state itself is guarded by :mod:`cryoviz.deliver.app_guard` (which keys, which values); this module is
the network side, installed on the wslink server when trame binds it (:meth:`ServerGuard.bind`):

* **A secret per process.** Without ``--auth-key`` the server makes a random secret
  (:func:`secrets.token_urlsafe`, 256 bits) instead of wslink's public default ``wslink-secret``. The page
  this server serves fetches it from the trame client's launcher endpoint (``POST /paraview/``), which
  answers only a same-origin request whose ``Host`` is this server's. A shared ``--auth-key`` is never
  handed out: the page is opened as ``?secret=KEY``.
* **Foreign origins refused.** Any request carrying an ``Origin`` that is not this server's own origin
  (cross-site websocket hijacking, DNS rebinding) gets 403; on loopback the ``Host`` must be a loopback
  name too. Clients without ``Origin`` (not browsers) still need the secret.
* **Failed hellos throttled.** Secrets are compared in constant time; each failure holds a global lock for
  :data:`FAIL_DELAY_S`, so guessing runs at about two tries a second instead of thousands.
* **RPCs a client may not call.** ``application.exit``/``exit.later`` are removed; only the client
  lifecycle names reach the lifecycle hooks (``server_exited`` from a page no longer closes the renderer);
  the 3D view's RPCs (size, camera, animation, observers) are guarded by
  :class:`cryoviz.deliver.app_view_guard.ViewRpcGuard`; state updates go through
  :func:`cryoviz.deliver.app_guard.screen` and refused keys are pushed back with their last valid value.
* **Short errors.** An exception in a handler is logged with its traceback (wslink's logger); the client
  gets the method name and "server error", never the trace.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import logging
import secrets
import time
from typing import Any
from urllib.parse import urlsplit

from cryoviz.deliver.app_view_guard import REPLACED_VIEW_RPCS, VIEW_PX, ViewRpcGuard

log = logging.getLogger(__name__)

__all__ = ["FAIL_DELAY_S", "MIN_KEY_CHARS", "VIEW_PX", "ServerGuard", "key_problem", "new_secret",
           "origin_problem"]

#: Minimum visible characters of a shared key for a server reachable beyond this machine.
MIN_KEY_CHARS = 16
#: Seconds each failed hello holds the (global) authentication lock.
FAIL_DELAY_S = 0.5
#: Lifecycle names the trame page sends; any other (server_ready, server_exited, ...) is the server's own.
CLIENT_LIFECYCLE = frozenset({"client_connected", "client_exited", "client_unmounted"})
#: RPCs no client may call: stop the server; list server folders; trame-vtk's geometry delivery for local
#: rendering (the page shows server-drawn pictures only; these hand out the whole scene's geometry).
REMOVED_RPCS = ("application.exit", "application.exit.later", "file.server.directory.list",
                "viewport.geometry.view.observer.add", "viewport.geometry.view.observer.remove",
                "viewport.geometry.view.get.state", "viewport.geometry.array.get")
#: Seconds between two file-writing requests (screenshot, take-home files) a client may make.
SHOT_EVERY_S = 1.0
#: Triggers that write files.
FILE_TRIGGERS = frozenset({"cv_shot", "cv_take_home"})
_LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})


def new_secret() -> str:
    """A fresh random secret for one server process (URL-safe, 256 bits)."""
    return secrets.token_urlsafe(32)


def key_problem(key: str) -> str | None:
    """Why ``key`` is too weak for a server beyond loopback, or None (visible characters are counted)."""
    visible = sum(1 for ch in key if ch.isprintable() and not ch.isspace())
    if visible < MIN_KEY_CHARS:
        return f"key too weak: {visible} visible characters"
    return None


def _is_loopback(host: str) -> bool:
    host = host.strip("[]").lower()
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def origin_problem(host_header: str | None, origin: str | None, *, loopback_only: bool) -> str | None:
    """Why a request with these ``Host`` and ``Origin`` headers is refused, or None.

    Parameters
    ----------
    host_header, origin : str or None
        The request's headers (``Origin`` is absent for navigations and non-browser clients).
    loopback_only : bool
        The server listens on loopback: the ``Host`` must name this machine (no DNS rebinding).
    """
    if not host_header:
        return "no Host"
    host = urlsplit(f"//{host_header}").hostname or ""
    if loopback_only and not _is_loopback(host):
        return f"Host {host_header!r} is not this machine"
    if origin is None:
        return None
    parts = urlsplit(origin)
    if parts.scheme not in ("http", "https") or parts.netloc.lower() != host_header.lower():
        return f"foreign Origin {origin[:80]!r}"
    return None


class ServerGuard(ViewRpcGuard):
    """The network guard of one consultation server.

    Parameters
    ----------
    app : ConsultationApp
        The consultation (its ``client_update``/``screen`` and state).
    secret : str
        The secret clients must present.
    hand_out : bool
        Whether the page served here may fetch ``secret`` (True for a generated secret, False for a shared
        ``--auth-key``).
    loopback_only : bool
        The server listens on loopback only.
    """

    def __init__(self, app, secret: str, *, hand_out: bool, loopback_only: bool):
        self.app, self.secret = app, secret
        self.hand_out, self.loopback_only = hand_out, loopback_only
        self.failed_hellos = 0
        self._auth_lock: asyncio.Lock | None = None
        self._last_shot = 0.0

    # --------------------------------------------------------------------------------- install
    def bind(self, ws_server) -> None:
        """Install on a wslink aiohttp server (trame's ``on_server_bind``), before it starts."""
        ws_server.app.middlewares.append(self._middleware())
        if self.hand_out:
            ws_server.app.router.add_post("/paraview/", self._launcher)
        for handler in getattr(ws_server, "_ws_handlers", []):
            self.patch_handler(handler)

    def patch_handler(self, handler) -> None:
        """Guard one wslink handler's RPC table, its errors and its hello."""
        fm = handler.functionMap
        for name in REMOVED_RPCS:
            fm.pop(name, None)
        for name, where in REPLACED_VIEW_RPCS.items():  # innermost: the checks below still see the request
            if name in fm:
                obj, func = fm[name]
                fm[name] = (obj, self._replaced_view(func, where))
        wrappers = {
            "trame.state.update": self._state_update,
            "trame.lifecycle.update": self._lifecycle,
            "trame.trigger": self._trigger,
            "trame.error.client": self._client_error,
            "viewport.image.push.original.size": self._view_size,
            "viewport.image.push.quality": self._view_quality,
            "viewport.image.render": self._still_render,
            "viewport.camera.update": self._camera,
            "viewport.image.animation.fps.max": self._animation_fps,
            "viewport.image.animation.start": self._animation_start,
            "viewport.image.push.observer.remove": self._observer_remove,
            "viewport.image.push.enabled": self._push_enabled,
        }
        for name, wrap in wrappers.items():
            if name in fm:
                obj, func = fm[name]
                fm[name] = (obj, wrap(func))
        if "viewport.image.push.observer.add" in fm:    # a view mounting on a replaced window (only there:
            # a mounted view's resize can still name the old window for a moment after a replacement, and a
            # new mount would blank it): see ConsultationApp.stale_view_asked
            obj, func = fm["viewport.image.push.observer.add"]
            fm["viewport.image.push.observer.add"] = (obj, self._stale_check(func))
        if "viewport.image.push" in fm:     # the first picture asked for: the solver may start (app_start)
            obj, func = fm["viewport.image.push"]
            fm["viewport.image.push"] = (obj, self._picture_check(func))
        send_error = handler.sendWrappedError

        async def short_error(rpcid, code, message, data=None, client_id=None):
            if isinstance(data, dict) and "trace" in data:
                data = {"method": str(data.get("method", ""))[:80],
                        "error": "server error (see the server log)"}
            return await send_error(rpcid, code, message, data, client_id=client_id)

        handler.sendWrappedError = short_error
        handler.serverProtocol.validateToken = self.validate_token

    # ------------------------------------------------------------------------------ http side
    def _middleware(self):
        from aiohttp import web

        @web.middleware
        async def check_origin(request, handler):
            problem = origin_problem(request.headers.get("Host"), request.headers.get("Origin"),
                                     loopback_only=self.loopback_only)
            if problem:
                log.warning("refused %s %s: %s", request.method, request.path[:80], problem)
                return web.Response(status=403, text="forbidden\n")
            if request.path in ("/", "/index.html") and hasattr(self.app, "page_asked"):
                self.app.page_asked()   # a page is loading: the solver waits for it (app_start)
            return await handler(request)

        return check_origin

    async def _launcher(self, request):
        """The trame client's launcher answer: where to connect and with which secret (same origin only)."""
        from aiohttp import web

        origin = request.headers.get("Origin")
        if origin is None:       # the page's request always carries it; anything else gets nothing
            return web.Response(status=403, text="forbidden\n")
        scheme = "wss" if urlsplit(origin).scheme == "https" else "ws"
        return web.json_response({"sessionURL": f"{scheme}://USE_HOST/ws", "secret": self.secret})

    async def validate_token(self, token, client_id) -> bool:
        """Constant-time secret check; each failure holds the global lock :data:`FAIL_DELAY_S` seconds."""
        if self._auth_lock is None:
            self._auth_lock = asyncio.Lock()
        async with self._auth_lock:
            ok = isinstance(token, str) and hmac.compare_digest(token.encode("utf-8", "replace"),
                                                                self.secret.encode("utf-8"))
            if not ok:
                self.failed_hellos += 1
                log.warning("failed hello (%d so far)", self.failed_hellos)
                await asyncio.sleep(FAIL_DELAY_S)
            return ok

    # ------------------------------------------------------------------------------- RPC side
    def _state_update(self, func):
        from cryoviz.deliver.app_guard import screen

        def update(proto, changes=None, *_, **__):
            sent = {}
            for c in changes if isinstance(changes, list) else []:
                if isinstance(c, dict) and isinstance(c.get("key"), str):
                    sent[c["key"]] = c.get("value")
            accepted, rejected = screen(self.app, sent)
            # a clamped value (the timeline past the end) goes back to the sender too
            resend = list(rejected) + [k for k, v in accepted.items() if not _same(v, sent.get(k))]
            if rejected:
                log.info("client update refused for %s", ", ".join(sorted(rejected))[:300])
            result = None
            if accepted:
                result = func(proto, [{"key": k, "value": v} for k, v in accepted.items()])
            keys = [k for k in resend if self.app.state.has(k)]
            if keys:
                proto.force_push_state(*keys)
            return result

        return update

    def _lifecycle(self, func):
        def lifecycle(proto, name=None, *_, **__):
            if name not in CLIENT_LIFECYCLE:
                log.warning("client asked for lifecycle %r: refused", str(name)[:40])
                return None
            return func(proto, name)

        return lifecycle

    def _trigger(self, func):
        async def trigger(proto, name=None, args=None, kwargs=None, *_, **__):
            if not isinstance(name, str) or not isinstance(args if args is not None else [], list) \
                    or not isinstance(kwargs if kwargs is not None else {}, dict):
                return None
            if not getattr(self.app, "started", True):   # no story shown yet: no button has a meaning
                return None
            if name in FILE_TRIGGERS:
                now = time.monotonic()
                if now - self._last_shot < SHOT_EVERY_S:
                    return None
                self._last_shot = now
            return await func(proto, name, list(args or [])[:8], dict(kwargs or {}))

        return trigger

    def _stale_check(self, func):
        def check(proto, view_id=None, *args, **kwargs):
            from cryoviz.deliver.app_serve import REPLACED_VIEWS

            asked = getattr(self.app, "stale_view_asked", None)
            if asked is not None and str(view_id) in REPLACED_VIEWS:
                asked(str(view_id))
            return func(proto, view_id, *args, **kwargs)

        return check

    def _picture_check(self, func):
        def check(proto, options=None, *args, **kwargs):
            asked = getattr(self.app, "picture_asked", None)
            if asked is not None and isinstance(options, dict):
                asked(str(options.get("view")))
            return func(proto, options, *args, **kwargs)

        return check

    def _client_error(self, func):
        def client_error(proto, message=None, *_, **__):
            return func(proto, str(message)[:500])

        return client_error


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(a == b) and type(a) is type(b)
    except Exception:
        return False
