"""Running the app: bind the port ourselves (a busy port is a one-line error, not a
traceback), then hand the socket to uvicorn, which stops gracefully on SIGINT/SIGTERM."""

from __future__ import annotations

import errno
import logging
import signal
import socket
from typing import Any

from headroom_proxy._settings import ProxyConfigError, ProxySettings


class PortInUseError(ProxyConfigError, OSError):
    """The port is taken (8787 is also another popular gateway's default)."""


class _Stop(Exception):
    pass


def bind_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto=IPPROTO_TCP matters: asyncio turns on TCP_NODELAY for accepted connections only
    # when the socket says it is TCP; with proto 0, Nagle + delayed ACK add ~40 ms per response.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise PortInUseError(
                f"port {port} on {host} is already in use (another gateway may use it); "
                f"pick a free one with --port or HEADROOM_PORT"
            ) from None
        if exc.errno == errno.EADDRNOTAVAIL:
            raise ProxyConfigError(f"cannot bind {host}: no such local address (check --host)") from None
        if exc.errno == errno.EACCES:
            raise ProxyConfigError(
                f"no permission to bind port {port} (ports below 1024 need privileges); use --port"
            ) from None
        raise
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def serve(settings: ProxySettings, hooks: Any = None) -> None:
    """Run the proxy until SIGINT or SIGTERM; returns normally after a graceful shutdown."""
    import uvicorn

    from headroom_proxy._app import Proxy

    logging.basicConfig(level=settings.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("headroom").setLevel(settings.log_level.upper())
    if settings.log_level != "debug":  # one line per upstream call duplicates our own request line
        logging.getLogger("httpx").setLevel(logging.WARNING)
    settings.check_ccr_store()  # a configured Redis that does not answer: one line, no start
    proxy = Proxy(settings, hooks)
    proxy.check_backends()  # cloud credentials, region, endpoint: one line, no start
    sock = bind_socket(settings.host, settings.port)
    config = uvicorn.Config(
        proxy.app(),
        log_level=settings.log_level,
        lifespan="on",
        timeout_graceful_shutdown=10,
        proxy_headers=False,
        server_header=False,
    )
    server = uvicorn.Server(config)

    def stop(signum: int, frame: Any) -> None:
        raise _Stop

    # uvicorn handles the signals while it runs, then re-raises them; these handlers turn that
    # re-raise into a normal return (exit status 0, no traceback).
    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        server.run(sockets=[sock])
    except (_Stop, KeyboardInterrupt):
        pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        sock.close()
