"""URL inputs: refused unless public or allow-listed; capped and timed. Servers are loopback."""

import asyncio
import http.server
import threading
import time

import pytest

from shared.errors import ERRORS, FaceError
from shared.settings import Settings
from shared.urlfetch import fetch_image

PAYLOAD = b"\xff\xd8\xff" + b"x" * 5000


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/slow":
            time.sleep(3)
        if self.path == "/redirect-private":
            self.send_response(302)
            self.send_header("Location", "http://10.1.2.3/x.jpg")
            self.end_headers()
            return
        if self.path == "/missing":
            self.send_response(404)
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(PAYLOAD)))
        self.end_headers()
        self.wfile.write(PAYLOAD)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def _settings(**kw) -> Settings:
    return Settings().changed(url_timeout_s=1.0, **kw)


def _fetch(url: str, settings: Settings) -> bytes:
    return asyncio.run(fetch_image(url, settings))


def _refused(url: str, settings: Settings) -> FaceError:
    with pytest.raises(FaceError) as err:
        _fetch(url, settings)
    return err.value


def test_loopback_is_refused_unless_allow_listed(server):
    assert _refused(f"{server}/a.jpg", _settings(url_allow=())).kind is ERRORS.PARAM_INVALID
    assert _fetch(f"{server}/a.jpg", _settings(url_allow=("127.0.0.0/8",))) == PAYLOAD


@pytest.mark.parametrize("url", [
    "http://10.0.0.1/x.jpg", "http://192.168.1.1/x.jpg", "http://169.254.169.254/latest",
    "http://[::1]/x.jpg", "http://localhost/x.jpg", "file:///etc/passwd", "ftp://example.com/x",
])
def test_private_link_local_and_non_http_urls_are_refused(url):
    assert _refused(url, _settings(url_allow=())).kind is ERRORS.PARAM_INVALID


def test_redirect_to_a_private_address_is_refused(server):
    err = _refused(f"{server}/redirect-private", _settings(url_allow=("127.0.0.0/8",)))
    assert err.kind is ERRORS.PARAM_INVALID


def test_size_cap_timeout_and_http_errors(server):
    allowed = ("127.0.0.0/8",)
    assert _refused(f"{server}/a.jpg", _settings(url_allow=allowed, url_max_bytes=1000)
                    ).kind is ERRORS.IMAGE_DECODE
    assert _refused(f"{server}/slow", _settings(url_allow=allowed)).kind is ERRORS.IMAGE_DECODE
    assert _refused(f"{server}/missing", _settings(url_allow=allowed)).kind is ERRORS.IMAGE_DECODE
