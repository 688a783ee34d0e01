"""12.15: the opt-in remote fetch follows redirects only to the same host, never to internal
addresses (checked on the resolved address)."""

from __future__ import annotations

import http.server
import threading
import urllib.error

import pytest

from headroom_core.images._fetch import check_redirect, fetch

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def public(_host: str) -> list[str]:
    return ["93.184.215.14"]


@pytest.mark.parametrize(
    ("new", "why"),
    [
        ("http://other.example/cat.png", "another host"),
        ("http://127.0.0.1/cat.png", "another host"),
        ("file:///etc/passwd", "non-http"),
    ],
)
def test_redirects_to_other_hosts_or_schemes_are_refused(new, why):
    with pytest.raises(ValueError, match=why):
        check_redirect("https://images.example/cat.png", new, public)


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.9",
        "192.168.1.1",
        "169.254.169.254",
        "::1",
        "fe80::1",
        "::ffff:10.0.0.1",
    ],
)
def test_same_host_redirect_resolving_inside_is_refused(address):
    with pytest.raises(ValueError, match="loopback, private or link-local"):
        check_redirect("https://images.example/a.png", "https://images.example/b.png", lambda h: [address])


def test_same_host_public_redirect_is_allowed():
    check_redirect("http://images.example/a.png", "https://images.example/b.png", public)


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/image.png":
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(PNG)))
            self.end_headers()
            self.wfile.write(PNG)
        else:  # /hop: a same-host redirect, whose target resolves to loopback
            self.send_response(302)
            self.send_header("Location", "/image.png")
            self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.mark.enable_socket
def test_a_real_redirect_to_a_loopback_address_is_not_followed(server):
    assert fetch(server + "/image.png", 5.0, 1 << 20) == PNG  # the first hop is the caller's choice
    with pytest.raises((ValueError, urllib.error.URLError)) as info:
        fetch(server + "/hop", 5.0, 1 << 20)
    assert "loopback, private or link-local" in str(info.value)
