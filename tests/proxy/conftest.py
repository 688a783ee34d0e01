"""Loopback servers for the proxy tests: the fake upstream and the proxy, each a real uvicorn
server on a free 127.0.0.1 port in a background thread, started and stopped per test."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.proxy.fake_upstream import FakeUpstream


class ServerThread:
    def __init__(self, app: Any) -> None:
        import uvicorn

        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        config = uvicorn.Config(app, log_level="warning", lifespan="on", timeout_graceful_shutdown=2)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()


@pytest.fixture
def fake() -> Iterator[tuple[FakeUpstream, ServerThread]]:
    upstream = FakeUpstream()
    server = ServerThread(upstream.app()).start()
    try:
        yield upstream, server
    finally:
        server.stop()


@pytest.fixture
def start_proxy(fake, tmp_path):
    """Start a proxy in front of the fake upstream: `url = start_proxy(**settings)`."""
    from headroom_proxy import ProxySettings, create_app

    _upstream, upstream_server = fake
    servers: list[ServerThread] = []

    def start(**overrides: Any) -> str:
        settings = ProxySettings(
            upstream_openai=upstream_server.url + "/v1",
            upstream_anthropic=upstream_server.url,
            ccr_dir=str(tmp_path / "ccr"),
            trust_env=False,
            **overrides,
        )
        servers.append(ServerThread(create_app(settings)).start())
        return servers[-1].url

    try:
        yield start
    finally:
        for server in servers:
            server.stop()
