"""``cryoviz serve``: checks before starting, a true banner, and logs that speak only of what matters.

Ordinary events of a consultation are not errors: a tab closing while a picture is on its way
(``ClientConnectionResetError``), or a page asking about the 3D view a re-simulation has just replaced
(trame-vtk's ``no view provided``). They used to print a traceback each (430 in 20 minutes); the filters
here turn them into one debug line. Anything else still logs in full.
"""

from __future__ import annotations

import errno
import ipaddress
import logging
import re
import socket
import sys
import time
from pathlib import Path

from cryoviz.core.errors import InputError

__all__ = ["REPLACED_VIEWS", "OrdinaryEventFilter", "check_host", "check_port", "is_loopback", "key_for_host",
           "quiet_logs", "read_auth_key", "serve", "show_made_key", "tune_allocator"]

#: Exception texts of ordinary events (a closed tab), as wslink and aiohttp log them.
ORDINARY = ("ClientConnectionResetError", "Cannot write to closing transport", "ConnectionResetError")
#: Ids of 3D views a re-simulation replaced: a page asking about one of them is ordinary (it learns the new
#: id a moment later); "no view provided" for any other id is a real error and logs in full.
REPLACED_VIEWS: set[str] = set()
_NO_VIEW = re.compile(r"no view provided: (\S+?)['\")]*$")


def check_host(host: str, auth_key: str | None) -> None:
    """Refuse to listen beyond this machine without a strong shared key.

    Raises
    ------
    InputError
        ``host`` is not a loopback address and no ``auth_key`` was given, or the key is empty, or (beyond
        loopback) it has fewer than :data:`cryoviz.deliver.app_security.MIN_KEY_CHARS` visible characters.
    """
    from cryoviz.deliver.app_security import MIN_KEY_CHARS, key_problem

    if auth_key is not None and not auth_key.strip():
        raise InputError.one("argument", "--auth-key", "empty key", "a non-empty shared secret", "")
    if is_loopback(host):
        return
    if auth_key is None:
        raise InputError.one("argument", "--host", "listening beyond this machine needs --auth-key (or a "
                             "terminal, where a key made for the run is shown)",
                             "127.0.0.1, localhost, ::1, or another host together with --auth-key KEY, "
                             "--auth-key-file F or $CRYOVIZ_AUTH_KEY", host)
    problem = key_problem(auth_key)
    if problem:
        raise InputError.one("argument", "--auth-key", problem,
                             f"at least {MIN_KEY_CHARS} visible characters for --host {host}",
                             f"{len(auth_key)} characters")


def key_for_host(host: str, auth_key: str | None, terminal=None) -> tuple[str | None, bool]:
    """The key to serve with, and whether it was made here: beyond loopback without a key, a strong one.

    A server reachable from other machines never runs without a key. When none was given and the command
    runs in a terminal (``terminal``, default ``sys.stderr``, is a TTY) a key is made for this run
    (:func:`cryoviz.deliver.app_security.new_secret`, 256 bits) and shown there only, in the URL to open
    (:func:`show_made_key`); without a terminal nobody could read it, so :func:`check_host` refuses.
    A key the user gave is returned as is (:func:`check_host` judges it).
    """
    from cryoviz.deliver.app_security import new_secret

    stream = sys.stderr if terminal is None else terminal
    if auth_key is None and not is_loopback(host) and _isatty(stream):
        return new_secret(), True
    return auth_key, False


def _isatty(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


def show_made_key(host: str, url: str, terminal=None) -> None:
    """Print a made key's URL and a one-line warning to the terminal only (never a logger, never a file).

    The page takes the key from the URL (``?secret=KEY``), as for a key the user gives.
    """
    stream = sys.stderr if terminal is None else terminal
    if not _isatty(stream):         # the key stays off anything that is not a person's screen
        return
    print(f"cryoviz serve: WARNING: listening beyond this machine ({host}) with a key made for this run: "
          "anyone with the URL below can watch and steer this consultation; give it only to the screens "
          "in the room (on another device, put this machine's address in place of localhost)",
          file=stream, flush=True)
    print(f"cryoviz serve: open {url}", file=stream, flush=True)


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine only (``localhost`` or a loopback address)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def read_auth_key(auth_key: str | None = None, key_file=None, environ=None) -> str | None:
    """The shared key: ``--auth-key``, else the first line of ``--auth-key-file``, else ``$CRYOVIZ_AUTH_KEY``.

    A key in a file or the environment stays out of ``ps``. Raises InputError for an unreadable key file.
    """
    import os

    if auth_key is not None:
        return auth_key
    if key_file is not None:
        path = Path(key_file)
        try:
            if not path.is_file():
                raise OSError("not a regular file")
            with path.open("rb") as fh:
                data = fh.read(4097)
        except OSError as exc:
            raise InputError.one("argument", "--auth-key-file", f"unreadable key file ({exc})",
                                 "a readable file holding the key", str(path)) from None
        if len(data) > 4096:
            raise InputError.one("argument", "--auth-key-file", "key file too large", "up to 4096 bytes",
                                 str(path))
        lines = data.decode("utf-8", "replace").strip().splitlines()
        return lines[0].strip() if lines else ""
    env = os.environ if environ is None else environ
    return env.get("CRYOVIZ_AUTH_KEY") or None


def check_port(host: str, port) -> None:
    """Refuse a port that is not a TCP port or that another program already listens on.

    Raises
    ------
    InputError
        ``port`` out of 0..65535, or in use (the hint names ``--port`` with another number, or 0 for any
        free port).
    """
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise InputError.one("argument", "--port", "not a TCP port", "0 to 65535", port)
    if port == 0:
        return
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host.strip("[]"), port))
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise InputError.one("argument", "--host", f"cannot listen there ({exc.strerror})",
                                     "an address of this machine", host) from None
            raise InputError.one("argument", "--port", "port in use (another cryoviz serve or program "
                                 "listens there)", f"a free port, e.g. --port {port + 1}, or --port 0 "
                                 "for any free one", port) from None


def _text(record: logging.LogRecord) -> str:
    parts = [record.getMessage()]
    exc = record.exc_info[1] if record.exc_info else None
    while exc is not None:
        parts.append(f"{type(exc).__name__}: {exc}")
        exc = exc.__cause__ or exc.__context__
    return " ".join(parts)


class OrdinaryEventFilter(logging.Filter):
    """Drop log records of ordinary events (see :data:`ORDINARY`) and count them.

    wslink logs one failed call as three records ("Exception raised", the exception's repr, the traceback);
    the first is held back until the second says whether the event was ordinary.
    """

    def __init__(self) -> None:
        super().__init__()
        self.dropped = 0
        self._skip_trace = False
        self._held: logging.LogRecord | None = None

    def filter(self, record: logging.LogRecord) -> bool:
        text = _text(record)
        if record.getMessage() == "Exception raised":
            self._held = record
            return False
        held, self._held = self._held, None
        if self._skip_trace and text.lstrip().startswith("Traceback"):
            self._skip_trace = False
            return False
        no_view = _NO_VIEW.search(record.getMessage().strip())
        if any(word in text for word in ORDINARY) or (no_view and no_view.group(1) in REPLACED_VIEWS):
            self.dropped += 1
            self._skip_trace = held is not None
            return False
        if held is not None:    # not ordinary: the held line's words go with it
            record.msg = f"Exception raised: {record.getMessage()}"
            record.args = ()
        return True


def quiet_logs() -> OrdinaryEventFilter:
    """Install :class:`OrdinaryEventFilter` on the loggers of wslink and aiohttp; return it."""
    filt = OrdinaryEventFilter()
    for name in ("wslink.protocol", "wslink.backends.aiohttp", "aiohttp.server", "aiohttp.web",
                 "aiohttp.websocket", "asyncio"):
        logging.getLogger(name).addFilter(filt)
    return filt


def say(text: str) -> None:
    """One line in the terminal of ``cryoviz serve`` (stderr, flushed): what the server is doing."""
    print(f"cryoviz serve: {text}", file=sys.stderr, flush=True)


def tune_allocator(mmap_threshold: int = 1 << 20, arenas: int = 2) -> bool:
    """Make glibc give large freed buffers back to the system at once; return False where there is no glibc.

    A consultation allocates and frees picture buffers of 1–7 MB many times a second. glibc raises its
    mmap threshold each time such a buffer is freed, after which the buffers come from the heap and their
    pages stay with the process: the server's memory crept from 628 to over 1000 MB in a 10-minute soak of
    hostile and ordinary events. A fixed threshold (``M_MMAP_THRESHOLD``, 1 MiB) keeps every large buffer
    in its own mapping, returned when freed, and a cap on malloc arenas (``M_ARENA_MAX``) keeps the
    server's threads from each holding freed memory of their own. Call before threads start.
    """
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        libc = ctypes.CDLL(name)
        m_mmap_threshold, m_arena_max = -3, -8   # <malloc.h>
        return bool(libc.mallopt(m_mmap_threshold, int(mmap_threshold))) and \
            bool(libc.mallopt(m_arena_max, int(arenas)))
    except (OSError, AttributeError):
        return False


def serve(scene_path, host: str = "127.0.0.1", port: int = 8080, auth_key: str | None = None,
          open_browser: bool = True) -> None:
    """Serve one consultation until interrupted.

    Parameters
    ----------
    scene_path : path-like
        The scene TOML file.
    host : str
        Interface to listen on; anything but loopback needs ``auth_key``, or a terminal where a key made for
        this run is shown (:func:`key_for_host`).
    port : int
        TCP port (0 picks a free one).
    auth_key : str, optional
        Shared secret a client must present (open the page as ``http://HOST:PORT/?secret=KEY``).
    open_browser : bool
        Open the page in the default browser when ready.

    Raises
    ------
    InputError
        Bad host/key/port (or the port in use) or scene, before anything starts.
    """
    from cryoviz.deliver.app import ConsultationApp
    from cryoviz.deliver.app_security import ServerGuard, new_secret
    from cryoviz.model.scene_load import load_scene

    auth_key, made = key_for_host(host, auth_key)
    check_host(host, auth_key)
    check_port(host, port)
    t0 = time.perf_counter()
    scene = load_scene(scene_path, check_geometry=True)
    quiet_logs()
    tune_allocator()
    app = ConsultationApp(scene, say=say, first_in_background=True)   # the page loads while it builds
    server = app.server
    # never wslink's public default secret: a shared key, or a random one only this server's page receives
    secret = auth_key if auth_key is not None else new_secret()
    guard = ServerGuard(app, secret, hand_out=auth_key is None, loopback_only=is_loopback(host))
    server.controller.on_server_bind.add(guard.bind)
    # "--authKey=KEY" in one word: a random key may start with "-", which argparse then took for an option
    # (the server refused to start, about one start in 64)
    # no permessage-deflate: what the socket carries is mostly JPEG pictures, which do not shrink, and
    # deflating them cost the server about 3 ms and the page an inflate per picture while playing
    args = ["--host", host, "--port", str(port), "--timeout", "0", f"--authKey={secret}", "--no-ws-compress"]
    parser = server.cli
    real_parse = parser.parse_known_args
    parser.parse_known_args = lambda _args=None, namespace=None: real_parse(args, namespace)

    def _ready(**_):
        shown = "localhost" if host in ("0.0.0.0", "::") else host
        url = f"http://{shown}:{server.port}/" + (f"?secret={auth_key}" if auth_key is not None else "")
        if made:
            say(f"ready in {time.perf_counter() - t0:.1f} s")
            show_made_key(host, url)
        else:   # a key goes to a terminal only, never into a redirected log
            text = url if auth_key is None or _isatty(sys.stderr) else \
                url.replace(f"?secret={auth_key}", "?secret=YOUR-KEY")
            say(f"ready in {time.perf_counter() - t0:.1f} s: open {text}")
        say("one process is one consultation (every tab shares it); for another room start another "
            f"on its own port, e.g. --port {server.port + 1}. Stop with Ctrl+C.")
        if open_browser:
            import webbrowser

            webbrowser.open(url)

    server.controller.on_server_ready.add(_ready)
    server.start(host=host, port=port, open_browser=False, show_connection_info=False, timeout=0)
