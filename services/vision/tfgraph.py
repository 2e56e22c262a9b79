"""Read the constant tensors out of a frozen TensorFlow GraphDef without TensorFlow.

A frozen graph keeps every weight in a `Const` node whose `value` attribute is a
TensorProto. Only the few protobuf fields needed to reach those tensors are decoded;
everything else in the file is skipped by wire type.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from services.vision.protowire import LEN as _LEN
from services.vision.protowire import fields as _fields
from services.vision.protowire import varint as _varint

_DT_FLOAT = 1
_DT_INT32 = 3

def _shape(buf: memoryview) -> list[int]:
    dims = []
    for number, _, value in _fields(buf):
        if number == 2:  # TensorShapeProto.dim
            size = 0
            for n, _, v in _fields(value):
                if n == 1:
                    size = v
            dims.append(size)
    return dims


def _tensor(buf: memoryview) -> np.ndarray:
    dtype, shape, content = _DT_FLOAT, [], b""
    floats: list[float] = []
    ints: list[int] = []
    for number, wire, value in _fields(buf):
        if number == 1:
            dtype = value
        elif number == 2:
            shape = _shape(value)
        elif number == 4:
            content = bytes(value)
        elif number == 5:  # float_val, packed or not
            raw = bytes(value)
            floats.extend(struct.unpack(f"<{len(raw) // 4}f", raw))
        elif number == 7:  # int_val
            if wire == _LEN:
                sub, pos = value, 0
                while pos < len(sub):
                    v, pos = _varint(sub, pos)
                    ints.append(v)
            else:
                ints.append(value)
    np_dtype = {_DT_FLOAT: np.float32, _DT_INT32: np.int32}.get(dtype)
    if np_dtype is None:
        return np.empty(0, np.float32)
    if content:
        return np.frombuffer(content, dtype=np.dtype(np_dtype).newbyteorder("<")).reshape(shape)
    values = floats if np_dtype is np.float32 else ints
    count = int(np.prod(shape)) if shape else 1
    if not values:
        return np.zeros(shape, np_dtype)
    # TensorFlow repeats the last listed value to fill the shape.
    full = values + [values[-1]] * (count - len(values))
    return np.asarray(full, dtype=np_dtype).reshape(shape)


def read_constants(path: Path) -> dict[str, np.ndarray]:
    """Map each Const node's name to its value."""
    data = memoryview(Path(path).read_bytes())
    constants: dict[str, np.ndarray] = {}
    for number, _, node in _fields(data):
        if number != 1:  # GraphDef.node
            continue
        name, op, tensor = "", "", None
        for n, _, v in _fields(node):
            if n == 1:
                name = bytes(v).decode()
            elif n == 2:
                op = bytes(v).decode()
            elif n == 5:  # attr map entry {key, AttrValue}
                key, attr = "", None
                for en, _, ev in _fields(v):
                    if en == 1:
                        key = bytes(ev).decode()
                    elif en == 2:
                        attr = ev
                if key == "value" and attr is not None:
                    for an, _, av in _fields(attr):
                        if an == 8:  # AttrValue.tensor
                            tensor = av
        if op == "Const" and tensor is not None:
            constants[name] = _tensor(tensor)
    return constants
