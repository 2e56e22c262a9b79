"""A corpus of hostile image files, made in memory: what a careless or malicious client sends
where an image belongs."""

from __future__ import annotations

import io
import struct
import zlib

from PIL import Image


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))


def png_claiming(width: int, height: int, payload: bytes = b"") -> bytes:
    """A PNG whose header promises width x height pixels (the IDAT holds `payload`)."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header)
            + _png_chunk(b"IDAT", zlib.compress(payload)) + _png_chunk(b"IEND", b""))


def png_bomb() -> bytes:
    """30000 x 30000 grey, a few hundred kilobytes compressed: 2.7 GB if decoded."""
    rows = (b"\x00" + b"\x80" * 30000 * 3)
    compressor = zlib.compressobj(9)
    data = b"".join(compressor.compress(rows) for _ in range(2000)) + compressor.flush()
    header = struct.pack(">IIBBBBB", 30000, 30000, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", data)
            + _png_chunk(b"IEND", b""))


def _encoded(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def corpus(face_jpeg: bytes) -> dict[str, bytes]:
    small = Image.new("RGB", (64, 64), (120, 90, 60))
    return {
        "zero bytes": b"",
        "one byte": b"\xff",
        "text": b"hello, not an image",
        "svg": b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>',
        "html": b"<html><img src=x onerror=alert(1)></html>",
        "png bomb 30000x30000": png_bomb(),
        "png header 65000x65000": png_claiming(65000, 65000),
        "png header 0x0": png_claiming(0, 0),
        "png truncated": _encoded(small, "PNG")[:40],
        "jpeg truncated": face_jpeg[: len(face_jpeg) // 3],
        "jpeg header only": face_jpeg[:600],
        "jpeg with garbage tail": face_jpeg + b"\x00" * 4096 + b"<?php ?>",
        "tiff": _encoded(small, "TIFF"),
        "gif": _encoded(small.convert("P"), "GIF"),
        "webp": _encoded(small, "WEBP"),
        "bmp 1x1": _encoded(Image.new("RGB", (1, 1)), "BMP"),
        "png 16-bit grey": _encoded(Image.new("I;16", (64, 64)), "PNG"),
        "png palette with transparency": _encoded(Image.new("P", (64, 64)), "PNG",
                                                  transparency=0),
        "jpeg cmyk": _encoded(Image.new("CMYK", (64, 64)), "JPEG"),
        "ico": _encoded(small, "ICO"),
    }
