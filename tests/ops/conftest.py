"""Loopback servers for the operations tests: the proxy tests' fake upstream and proxy fixtures."""

from __future__ import annotations

from tests.proxy.conftest import ServerThread, fake, start_proxy

__all__ = ["ServerThread", "fake", "start_proxy"]
