"""The binary layout of a face feature, as /face/tool/feature returns it (base64 of this).

    offset  size  field
    0       2     magic b"FG"
    2       1     layout version (1)
    3       1     element type (1 = float32, little-endian)
    4       2     model code, uint16 LE (shared.models: 3 FaceNet, 2 ArcFace MBF, 1 FaceNet m14)
    6       2     dimension n, uint16 LE
    8       4n    the L2-normalised embedding, float32 LE
    8+4n    4     CRC-32 of bytes 0 .. 8+4n-1, uint32 LE

A blob whose length does not match its header is refused as FEATURE_LENGTH (8515); a bad magic,
version, checksum or unknown model as FEATURE_DATA (8514); two features from different models
are never compared (FEATURE_DATA).
"""

from __future__ import annotations

import base64
import binascii
import struct
import zlib
from dataclasses import dataclass

import numpy as np

from shared.errors import ERRORS, FaceError
from shared.models import BY_CODE, ModelSpec

MAGIC = b"FG"
VERSION = 1
FLOAT32 = 1
_HEADER = struct.Struct("<2sBBHH")


@dataclass(frozen=True)
class Feature:
    model: ModelSpec
    vector: np.ndarray  # float32, unit length


def pack(model: ModelSpec, vector: np.ndarray) -> bytes:
    vector = np.asarray(vector, dtype="<f4").ravel()
    body = _HEADER.pack(MAGIC, VERSION, FLOAT32, model.code, vector.size) + vector.tobytes()
    return body + struct.pack("<I", zlib.crc32(body))


def unpack(blob: bytes) -> Feature:
    if len(blob) < _HEADER.size + 4:
        raise FaceError(ERRORS.FEATURE_LENGTH, f"{len(blob)} bytes is shorter than any feature")
    magic, version, dtype, code, dim = _HEADER.unpack_from(blob)
    if magic != MAGIC or version != VERSION or dtype != FLOAT32:
        raise FaceError(ERRORS.FEATURE_DATA, "not a facegate feature")
    if len(blob) != _HEADER.size + 4 * dim + 4:
        raise FaceError(ERRORS.FEATURE_LENGTH,
                        f"{len(blob)} bytes, header says {_HEADER.size + 4 * dim + 4}")
    (crc,) = struct.unpack_from("<I", blob, len(blob) - 4)
    if zlib.crc32(blob[:-4]) != crc:
        raise FaceError(ERRORS.FEATURE_DATA, "checksum mismatch: the feature is damaged")
    model = BY_CODE.get(code)
    if model is None:
        raise FaceError(ERRORS.FEATURE_DATA, f"unknown model code {code}")
    if dim != model.dim:
        raise FaceError(ERRORS.FEATURE_LENGTH, f"model {model.key} has {model.dim} dimensions")
    vector = np.frombuffer(blob, dtype="<f4", count=dim, offset=_HEADER.size)
    return Feature(model, vector.astype(np.float32))


def to_base64(model: ModelSpec, vector: np.ndarray) -> str:
    return base64.b64encode(pack(model, vector)).decode("ascii")


def from_base64(text: str) -> Feature:
    if not text or not text.strip():
        raise FaceError(ERRORS.PARAM_MISSING, "feature is empty")
    cleaned = "".join(text.split()).replace(" ", "+")
    try:
        blob = base64.b64decode(cleaned + "=" * (-len(cleaned) % 4), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise FaceError(ERRORS.FEATURE_DATA, "feature is not valid base64") from exc
    return unpack(blob)

