"""A group's file read back (services/recognition/transfer.py): what an export writes is read
as it was, and every line that could not be stored faithfully is refused, naming its line,
before anything is written."""

from __future__ import annotations

import json

import numpy as np
import pytest

from services.gallery.records import StoredFaceData
from services.recognition import transfer
from shared.errors import ERRORS, FaceError
from shared.models import FACENET


def _face(**changes) -> dict:
    vector = np.zeros(FACENET.dim, np.float32)
    vector[3] = 1.0
    line = json.loads(transfer.face_line(StoredFaceData(
        7, "tag", "k7", "ann", "Ann", [1, 2, 30, 40], 0.9, vector, b"\x01", b"jpg", None,
        b"region")))
    line["face"].update(changes)
    return line


def _file(*faces: dict, end: int | None = None) -> bytes:
    header = {"format": transfer.FORMAT, "version": transfer.VERSION,
              "group": {"name": "src", "tag": "", "quality": None},
              "model": {"key": FACENET.key, "code": FACENET.code, "dim": FACENET.dim}}
    ending = {"end": {"faces": len(faces) if end is None else end, "last_id": 7}}
    return b"\n".join(json.dumps(v).encode() for v in (header, *faces, ending)) + b"\n"


def _refused(data: bytes, kind=ERRORS.PARAM_INVALID) -> str:
    with pytest.raises(FaceError) as caught:
        transfer.read_file(data)
    assert caught.value.kind is kind
    return caught.value.detail


def test_an_exported_face_reads_back_as_it_was():
    found = transfer.read_file(_file(_face()))
    [face] = found.faces
    assert (found.source, found.model) == ("src", FACENET)
    assert (face.tag, face.key, face.person_id, face.person_name, face.box) == (
        "tag", "k7", "ann", "Ann", [1, 2, 30, 40])
    assert (face.thumbnail, face.region, face.sha256) == (b"jpg", b"region", b"\x01")
    assert face.vector[3] == pytest.approx(1.0) and face.quality == pytest.approx(0.9)
    # a face without its own key gets one made of the exporting group and its id
    assert transfer.read_file(_file(_face(key=None))).faces[0].key == "export:src:7"


@pytest.mark.parametrize(("changes", "says"), [
    ({"tag": "a\x00b"}, "NUL"),
    ({"key": "k\x00"}, "NUL"),
    ({"person": "A\x00"}, "NUL"),
    ({"box": [1, 2, 3]}, "box"),
    ({"box": [1, 2, 3, 2**31]}, "box"),
    ({"quality": float("nan")}, "finite"),
    ({"embedding": "AAAA"}, "embedding"),
    ({"key": "k" * 300}, "key"),
    ({"person_id": "has space"}, "person_id"),
])
def test_a_line_that_could_not_be_stored_faithfully_is_refused_by_number(changes, says):
    detail = _refused(_file(_face(), _face(**changes)))
    assert detail.startswith("line 3") and says in detail


def test_a_file_cut_short_too_long_a_line_or_another_format_is_refused():
    assert "incomplete" in _refused(_file(_face(), end=2))
    assert "incomplete" in _refused(_file(_face()).rsplit(b"\n", 2)[0])
    long_line = json.dumps({"face": {"tag": "x" * transfer.MAX_LINE_BYTES}}).encode()
    assert "longer than" in _refused(_file().replace(b"\n", b"\n" + long_line + b"\n", 1))
    assert "version" in _refused(b'{"format": "other"}\n')
    _refused(b"", ERRORS.PARAM_MISSING)
