"""The forms of an ingestion request, turned into items (no service needed)."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import zipfile

import pytest

from gateway.dialects.native.archives import ArchiveLimits
from gateway.dialects.native.bulk_inputs import BulkInput
from gateway.dialects.native.bulk_inputs import items_from as read_items
from shared.errors import FaceError
from shared.images import encode_jpeg, pixel_limit
from shared.settings import load_settings

PHOTO = encode_jpeg(__import__("numpy").full((40, 40, 3), 120, "uint8"))


def items_from(params: dict, content_type: str, limit: int, size) -> list:
    """The request's items, its parameters validated as the route's contract does."""
    return list(read_items(BulkInput.model_validate(params), content_type, limit, size,
                           ArchiveLimits.of(load_settings())))


SIZE = pixel_limit(100_000_000)


def _tar(files: dict[str, bytes], mode: str = "w") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=mode) as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def test_a_tar_without_manifest_takes_its_photos_tagged_by_path():
    body = _tar({"a/1.jpg": PHOTO, "a/notes.txt": b"hello", "b/2.JPEG": PHOTO,
                 "b/.hidden.jpg": PHOTO, "c/broken.jpg": b"not a jpeg"})
    items = items_from({"body": body}, "application/x-tar", 100, SIZE)
    assert [(i.tag, i.status) for i in items] == [("a/1.jpg", None), ("b/2.JPEG", None),
                                                  ("c/broken.jpg", "bad_image")]
    assert items[0].key == hashlib.sha256(PHOTO).hexdigest() and items[0].image == PHOTO
    assert items[2].error["error"] in ("IMAGE_FORMAT", "IMAGE_DECODE")


def test_a_gzipped_tar_and_a_zip_with_a_manifest():
    gz = _tar({"x.jpg": PHOTO}, "w:gz")
    assert len(items_from({"body": gz}, "application/gzip", 10, SIZE)) == 1
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("p/one.jpg", PHOTO)
        archive.writestr("p/two.jpg", PHOTO)
        archive.writestr("p/unlisted.jpg", PHOTO)
    manifest = b"file,tag,key\np/one.jpg,Alice,emp-1\np/two.jpg,,emp-2\n"
    items = items_from({"archive": buffer.getvalue(), "manifest": manifest},
                       "multipart/form-data", 10, SIZE)
    assert [(i.tag, i.key) for i in items] == [("Alice", "emp-1"), ("p/two.jpg", "emp-2")]


def test_urls_from_csv_json_and_json_lines():
    items = items_from({"body": b"url,tag\nhttp://h/a.jpg,A\nftp://h/b.jpg,B\n"}, "text/csv",
                       10, SIZE)
    assert items[0].url == "http://h/a.jpg" and items[0].status is None
    assert items[0].key == hashlib.sha256(b"url:http://h/a.jpg").hexdigest()
    assert items[1].status == "bad_image" and items[1].url is None
    listed = items_from({"urls": json.dumps(["https://h/c.png"])}, "application/json", 10, SIZE)
    assert listed[0].url == "https://h/c.png"
    lines = b'{"image_url": "http://h/a.jpg", "key": "k1"}\n\n{"image": "%%%"}\n'
    items = items_from({"body": lines}, "application/x-ndjson", 10, SIZE)
    assert items[0].key == "k1" and items[1].status == "bad_image"


@pytest.mark.parametrize("params,content_type,message", [
    ({"body": b"garbage"}, "application/x-tar", "archive"),
    ({"body": b"name\nx\n"}, "text/csv", "url"),
    ({"body": b"{not json}\n"}, "application/x-ndjson", "line 1"),
    ({"items": "[1]"}, "application/json", "item 0"),
    ({"items": json.dumps([{"image_url": "http://h/a.jpg", "tag": "t" * 200}])},
     "application/json", "tag"),
    ({"urls": json.dumps(["http://h/a.jpg"] * 3)}, "application/json", "at most 2"),
    ({}, "application/json", "required"),
])
def test_bad_requests_are_refused_whole(params, content_type, message):
    with pytest.raises(FaceError) as caught:
        items_from(params, content_type, 2, SIZE)
    assert message in caught.value.detail
