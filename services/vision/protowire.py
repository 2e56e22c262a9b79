"""The protobuf wire format, just enough to walk a message's fields without the protobuf
package: tfgraph.py reads TensorFlow GraphDefs with it and onnxgraph.py ONNX models."""

from __future__ import annotations

from collections.abc import Iterator

# protobuf wire types
VARINT, I64, LEN, I32 = 0, 1, 2, 5


def varint(buf: memoryview, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def fields(buf: memoryview) -> Iterator[tuple[int, int, object]]:
    """Yield (field number, wire type, value) for each field of one message."""
    pos, end = 0, len(buf)
    while pos < end:
        key, pos = varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == VARINT:
            value, pos = varint(buf, pos)
        elif wire == I64:
            value, pos = buf[pos : pos + 8], pos + 8
        elif wire == LEN:
            size, pos = varint(buf, pos)
            value, pos = buf[pos : pos + size], pos + size
        elif wire == I32:
            value, pos = buf[pos : pos + 4], pos + 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        yield number, wire, value
