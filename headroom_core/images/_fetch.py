"""Fetching a remote image (opt-in: `ImageConfig.allow_remote_fetch`).

A fetched URL comes from message content, which a tool or a web page may have written, so a
redirect is where server-side request forgery would happen: the first hop is a host the
caller chose to allow, a redirect is a host somebody else chose. Redirects are therefore
followed only to the same host, and never to an address that resolves to a loopback,
private, link-local, multicast or otherwise reserved range.
"""

from __future__ import annotations

import ipaddress
import socket
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from typing import Any

Resolver = Callable[[str], list[str]]
MAX_REDIRECTS = 3


def _resolve(host: str) -> list[str]:
    infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    return sorted({str(info[4][0]) for info in infos})


def _is_internal(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone index
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast


def check_redirect(old_url: str, new_url: str, resolve: Resolver = _resolve) -> None:
    """Raise `ValueError` unless a redirect from `old_url` to `new_url` may be followed."""
    old, new = urllib.parse.urlsplit(old_url), urllib.parse.urlsplit(new_url)
    if new.scheme.lower() not in ("http", "https"):
        raise ValueError("redirect to a non-http(s) URL refused")
    if (old.hostname or "").lower() != (new.hostname or "").lower():
        raise ValueError("redirect to another host refused")
    try:
        addresses = resolve(new.hostname or "")
    except OSError as exc:
        raise ValueError(f"redirect target does not resolve ({type(exc).__name__})") from exc
    if not addresses or any(_is_internal(a) for a in addresses):
        raise ValueError("redirect to a loopback, private or link-local address refused")


class _GuardedRedirects(urllib.request.HTTPRedirectHandler):
    max_redirections = MAX_REDIRECTS

    def __init__(self, resolve: Resolver) -> None:
        self._resolve = resolve

    def redirect_request(self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str) -> Any:
        target = urllib.parse.urljoin(req.full_url, newurl)
        check_redirect(req.full_url, target, self._resolve)
        return super().redirect_request(req, fp, code, msg, headers, target)


def fetch(url: str, timeout: float, limit: int, *, resolve: Resolver = _resolve) -> bytes:
    """The bytes at `url` (at most `limit`), following only redirects `check_redirect` allows."""
    if not url.lower().startswith(("https://", "http://")):
        raise ValueError("only http(s) image URLs are fetched")
    opener = urllib.request.build_opener(_GuardedRedirects(resolve))
    request = urllib.request.Request(url, headers={"User-Agent": "headroom-ai"})
    with opener.open(request, timeout=timeout) as response:
        raw = response.read(limit + 1)
    if len(raw) > limit:
        raise ValueError(f"remote image is larger than {limit:,} bytes")
    return bytes(raw)
