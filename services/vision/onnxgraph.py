"""Run a small ONNX convolutional graph with torch, so it can run on CUDA without ONNX Runtime's
CUDA build (a 255 MB wheel tied to one CUDA version) and in half precision.

Only the operators of the networks facegate ships are implemented (ArcFace MobileFaceNet,
w600k_mbf.onnx: Conv, PRelu, Add, Flatten, Gemm, BatchNormalization); a graph with anything
else is refused when it loads, never run wrongly. The model is read with the protobuf wire
reader (protowire.py); the `onnx` package is not needed.

ONNX protobuf fields used: ModelProto.graph 7; GraphProto.node 1, initializer 5, input 11,
output 12; NodeProto.input 1, output 2, op_type 4, attribute 5; AttributeProto.name 1, f 2,
i 3, ints 8; TensorProto.dims 1, data_type 2, float_data 4, name 8, raw_data 9;
ValueInfoProto.name 1.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from services.vision.protowire import LEN, fields, varint

_FLOAT = 1
SUPPORTED = {"Conv", "PRelu", "Add", "Flatten", "Gemm", "BatchNormalization"}


@dataclass
class Node:
    op: str
    inputs: list[str]
    outputs: list[str]
    attrs: dict[str, object] = field(default_factory=dict)


def _text(value) -> str:
    return bytes(value).decode()


def _ints(wire: int, value) -> list[int]:
    if wire != LEN:
        return [value]
    out, pos = [], 0
    while pos < len(value):
        v, pos = varint(value, pos)
        out.append(v - (1 << 64) if v >= 1 << 63 else v)  # int64 two's complement
    return out


def _attribute(buf) -> tuple[str, object]:
    name, value, ints = "", None, []
    for number, wire, v in fields(buf):
        if number == 1:
            name = _text(v)
        elif number == 2:
            value = struct.unpack("<f", bytes(v))[0]
        elif number == 3:
            value = v - (1 << 64) if v >= 1 << 63 else v
        elif number == 8:
            ints.extend(_ints(wire, v))
    return name, (ints if ints else value)


def _tensor(buf) -> tuple[str, np.ndarray]:
    name, dims, dtype, raw, floats = "", [], _FLOAT, b"", []
    for number, wire, v in fields(buf):
        if number == 1:
            dims.extend(_ints(wire, v))
        elif number == 2:
            dtype = v
        elif number == 4:
            data = bytes(v)
            floats.extend(struct.unpack(f"<{len(data) // 4}f", data))
        elif number == 8:
            name = _text(v)
        elif number == 9:
            raw = bytes(v)
    if dtype != _FLOAT:
        raise ValueError(f"initializer {name}: only float32 tensors are supported")
    array = np.frombuffer(raw, "<f4") if raw else np.asarray(floats, np.float32)
    return name, array.reshape(dims).copy()


def read_graph(path: Path) -> tuple[list[Node], dict[str, np.ndarray], str, str]:
    """Nodes in order, initializers, the graph's (first non-initializer) input and output."""
    model = memoryview(Path(path).read_bytes())
    graph = next(v for number, _, v in fields(model) if number == 7)
    nodes, weights, inputs, outputs = [], {}, [], []
    for number, _, v in fields(graph):
        if number == 1:
            node = Node("", [], [])
            for n, _, nv in fields(v):
                if n == 1:
                    node.inputs.append(_text(nv))
                elif n == 2:
                    node.outputs.append(_text(nv))
                elif n == 4:
                    node.op = _text(nv)
                elif n == 5:
                    key, value = _attribute(nv)
                    node.attrs[key] = value
            nodes.append(node)
        elif number == 5:
            name, array = _tensor(v)
            weights[name] = array
        elif number in (11, 12):
            name = next(_text(nv) for n, _, nv in fields(v) if n == 1)
            (inputs if number == 11 else outputs).append(name)
    unknown = sorted({n.op for n in nodes} - SUPPORTED)
    if unknown:
        raise ValueError(f"{path.name}: unsupported ONNX operators {unknown}")
    graph_input = next(name for name in inputs if name not in weights)
    return nodes, weights, graph_input, outputs[0]


class OnnxNet(nn.Module):
    """The graph as a torch module; its weights are buffers, so .to(device, dtype) moves them."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.nodes, weights, self.input, self.output = read_graph(path)
        self._names = {}
        for k, (name, array) in enumerate(weights.items()):
            self._names[name] = f"w{k}"
            self.register_buffer(f"w{k}", torch.from_numpy(array))

    def _weight(self, name: str) -> torch.Tensor:
        return getattr(self, self._names[name])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        values = {self.input: x}

        def get(name: str) -> torch.Tensor:
            return values[name] if name in values else self._weight(name)

        for node in self.nodes:
            a = node.attrs
            args = [get(name) for name in node.inputs]
            if node.op == "Conv":
                pads = a.get("pads", [0, 0, 0, 0])
                if pads[:2] != pads[2:]:
                    raise ValueError("asymmetric Conv padding is not supported")
                out = F.conv2d(args[0], args[1], args[2] if len(args) > 2 else None,
                               stride=a.get("strides", 1), padding=pads[:2],
                               dilation=a.get("dilations", 1), groups=a.get("group", 1))
            elif node.op == "PRelu":
                slope = args[1].reshape(1, -1, *([1] * (args[0].dim() - 2)))
                out = torch.where(args[0] >= 0, args[0], args[0] * slope)
            elif node.op == "Add":
                out = args[0] + args[1]
            elif node.op == "Flatten":
                out = torch.flatten(args[0], start_dim=a.get("axis", 1))
            elif node.op == "Gemm":
                left = args[0].t() if a.get("transA", 0) else args[0]
                weight = args[1] if a.get("transB", 0) else args[1].t()
                out = F.linear(left, weight) * a.get("alpha", 1.0)
                if len(args) > 2:
                    out = out + a.get("beta", 1.0) * args[2]
            else:  # BatchNormalization, inference form
                out = F.batch_norm(args[0], args[3], args[4], args[1], args[2], False, 0.0,
                                   a.get("epsilon", 1e-5))
            values[node.outputs[0]] = out
        return values[self.output]
