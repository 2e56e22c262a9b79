"""MTCNN face detection over facenet-pytorch's shipped P/R/O-Net weights, batched.

The algorithm follows facenet_pytorch.models.utils.detect_face (same thresholds, pyramid,
regressions and NMS), with three differences that matter to a service:
- images of different sizes go in one call: P-Net runs per size group (same-size images share a
  forward pass), R-Net and O-Net run once over the candidates of every image together;
- NMS is plain torch/numpy, so CPU hosts need no torchvision (on CUDA torchvision's kernel is
  used when it is installed);
- boxes come back as float arrays per image, never numpy object arrays.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn.functional import interpolate

from services.vision.packages import package_file

THRESHOLDS = (0.6, 0.7, 0.7)
FACTOR = 0.709


class PNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 10, kernel_size=3)
        self.prelu1 = nn.PReLU(10)
        self.pool1 = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.conv2 = nn.Conv2d(10, 16, kernel_size=3)
        self.prelu2 = nn.PReLU(16)
        self.conv3 = nn.Conv2d(16, 32, kernel_size=3)
        self.prelu3 = nn.PReLU(32)
        self.conv4_1 = nn.Conv2d(32, 2, kernel_size=1)
        self.softmax4_1 = nn.Softmax(dim=1)
        self.conv4_2 = nn.Conv2d(32, 4, kernel_size=1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.prelu1(self.conv1(x))
        x = self.pool1(x)
        x = self.prelu2(self.conv2(x))
        x = self.prelu3(self.conv3(x))
        return self.conv4_2(x), self.softmax4_1(self.conv4_1(x))


class RNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 28, kernel_size=3)
        self.prelu1 = nn.PReLU(28)
        self.pool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2 = nn.Conv2d(28, 48, kernel_size=3)
        self.prelu2 = nn.PReLU(48)
        self.pool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv3 = nn.Conv2d(48, 64, kernel_size=2)
        self.prelu3 = nn.PReLU(64)
        self.dense4 = nn.Linear(576, 128)
        self.prelu4 = nn.PReLU(128)
        self.dense5_1 = nn.Linear(128, 2)
        self.softmax5_1 = nn.Softmax(dim=1)
        self.dense5_2 = nn.Linear(128, 4)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.pool2(self.prelu2(self.conv2(x)))
        x = self.prelu3(self.conv3(x))
        x = x.permute(0, 3, 2, 1).contiguous()
        x = self.prelu4(self.dense4(x.view(x.shape[0], -1)))
        return self.dense5_2(x), self.softmax5_1(self.dense5_1(x))


class ONet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 32, kernel_size=3)
        self.prelu1 = nn.PReLU(32)
        self.pool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2 = nn.Conv2d(32, 64, kernel_size=3)
        self.prelu2 = nn.PReLU(64)
        self.pool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv3 = nn.Conv2d(64, 64, kernel_size=3)
        self.prelu3 = nn.PReLU(64)
        self.pool3 = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.conv4 = nn.Conv2d(64, 128, kernel_size=2)
        self.prelu4 = nn.PReLU(128)
        self.dense5 = nn.Linear(1152, 256)
        self.prelu5 = nn.PReLU(256)
        self.dense6_1 = nn.Linear(256, 2)
        self.softmax6_1 = nn.Softmax(dim=1)
        self.dense6_2 = nn.Linear(256, 4)
        self.dense6_3 = nn.Linear(256, 10)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.pool2(self.prelu2(self.conv2(x)))
        x = self.pool3(self.prelu3(self.conv3(x)))
        x = self.prelu4(self.conv4(x))
        x = x.permute(0, 3, 2, 1).contiguous()
        x = self.prelu5(self.dense5(x.view(x.shape[0], -1)))
        return self.dense6_2(x), self.dense6_3(x), self.softmax6_1(self.dense6_1(x))


@dataclass
class Detections:
    """Faces of one image: boxes N x 4 (x1, y1, x2, y2), probs N, points N x 5 x 2 (left eye,
    right eye, nose, mouth left, mouth right, in image coordinates)."""

    boxes: np.ndarray
    probs: np.ndarray
    points: np.ndarray

    @classmethod
    def empty(cls) -> Detections:
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32),
                   np.zeros((0, 5, 2), np.float32))

    def __len__(self) -> int:
        return len(self.probs)


def _load(net: nn.Module, filename: str, device: torch.device) -> nn.Module:
    state = torch.load(package_file("facenet_pytorch", f"data/{filename}"), map_location="cpu",
                       weights_only=True)
    net.load_state_dict(state)
    return net.to(device).eval()


def _nms(boxes: np.ndarray, scores: np.ndarray, threshold: float, method: str) -> np.ndarray:
    if boxes.size == 0:
        return np.zeros(0, np.int64)
    x1, y1, x2, y2 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    area = (x2 - x1 + 1) * (y2 - y1 + 1)
    order = np.argsort(scores, kind="stable")
    keep = []
    while order.size:
        i = order[-1]
        keep.append(i)
        rest = order[:-1]
        w = np.maximum(0.0, np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]) + 1)
        h = np.maximum(0.0, np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]) + 1)
        inter = w * h
        denom = np.minimum(area[i], area[rest]) if method == "min" else area[i] + area[rest] - inter
        order = rest[inter / denom <= threshold]
    return np.asarray(keep, np.int64)


def batched_nms(boxes: torch.Tensor, scores: torch.Tensor, groups: torch.Tensor,
                threshold: float, method: str = "union") -> torch.Tensor:
    """NMS independently per group (image), by offsetting groups apart."""
    if boxes.numel() == 0:
        return torch.zeros(0, dtype=torch.long, device=boxes.device)
    if method == "union" and boxes.is_cuda:
        try:
            from torchvision.ops import batched_nms as tv_batched_nms

            return tv_batched_nms(boxes, scores, groups, threshold)
        except ImportError:
            pass
    offsets = groups.to(boxes) * (boxes.max() + 1)
    shifted = (boxes + offsets[:, None]).cpu().numpy()
    keep = _nms(shifted, scores.cpu().numpy(), threshold, method)
    return torch.as_tensor(keep, dtype=torch.long, device=boxes.device)


def _generate(reg: torch.Tensor, probs: torch.Tensor, scale: float, threshold: float
              ) -> tuple[torch.Tensor, torch.Tensor]:
    stride, cell = 2, 12
    reg = reg.permute(1, 0, 2, 3)
    mask = probs >= threshold
    idx = mask.nonzero()
    image_index = idx[:, 0]
    score = probs[mask]
    reg = reg[:, mask].permute(1, 0)
    bb = idx[:, 1:].to(reg.dtype).flip(1)
    q1 = ((stride * bb + 1) / scale).floor()
    q2 = ((stride * bb + cell) / scale).floor()
    return torch.cat([q1, q2, score.unsqueeze(1), reg], dim=1), image_index


def _square(boxes: torch.Tensor) -> torch.Tensor:
    h = boxes[:, 3] - boxes[:, 1]
    w = boxes[:, 2] - boxes[:, 0]
    side = torch.max(w, h)
    boxes[:, 0] = boxes[:, 0] + w * 0.5 - side * 0.5
    boxes[:, 1] = boxes[:, 1] + h * 0.5 - side * 0.5
    boxes[:, 2:4] = boxes[:, :2] + side.repeat(2, 1).permute(1, 0)
    return boxes


def _regress(boxes: torch.Tensor, reg: torch.Tensor) -> torch.Tensor:
    w = boxes[:, 2] - boxes[:, 0] + 1
    h = boxes[:, 3] - boxes[:, 1] + 1
    b = torch.stack([boxes[:, 0] + reg[:, 0] * w, boxes[:, 1] + reg[:, 1] * h,
                     boxes[:, 2] + reg[:, 2] * w, boxes[:, 3] + reg[:, 3] * h]).permute(1, 0)
    boxes[:, :4] = b
    return boxes


def area_crops(images: list[torch.Tensor], boxes: torch.Tensor, owners: torch.Tensor,
               size: int) -> torch.Tensor:
    """Every box's region resampled to size x size by area averaging, in one pass.

    Area resampling is adaptive average pooling: output cell i of a side of n pixels averages
    pixels floor(i n / size) to ceil((i + 1) n / size) - 1. Each cell's sum is read from a
    summed-area table of its image (float64: exact for 8-bit pixels). Boxes are clipped as
    facenet-pytorch clips them (1-based corners kept inside the image); an empty box gives 0.
    """
    device = boxes.device
    if len(boxes) == 0:
        return torch.empty((0, 3, size, size), device=device)
    tables, bases = [], []
    offset = 0
    for image in images:
        h, w = image.shape[1:]
        table = torch.zeros((3, h + 1, w + 1), dtype=torch.float64, device=device)
        table[:, 1:, 1:] = image.double().cumsum(1).cumsum(2)
        tables.append(table.reshape(-1))
        bases.append(offset)
        offset += table.numel()
    flat = torch.cat(tables)
    dims = torch.as_tensor([tuple(img.shape[1:]) for img in images], device=device)
    owner = owners.long()
    height, width = dims[owner, 0], dims[owner, 1]
    row_len = width + 1
    plane = (height + 1) * row_len  # one channel's table
    base = torch.as_tensor(bases, device=device)[owner]
    coords = boxes[:, :4].trunc().long()
    x1, y1 = coords[:, 0].clamp(min=1), coords[:, 1].clamp(min=1)
    x2, y2 = torch.minimum(coords[:, 2], width), torch.minimum(coords[:, 3], height)
    valid = (x2 > x1 - 1) & (y2 > y1 - 1)
    n_rows, n_cols = (y2 - y1 + 1).clamp(min=1), (x2 - x1 + 1).clamp(min=1)
    cell = torch.arange(size, device=device)
    r0 = y1[:, None] - 1 + (cell * n_rows[:, None]) // size  # boxes x size
    r1 = y1[:, None] - 1 + ((cell + 1) * n_rows[:, None] + size - 1) // size
    c0 = x1[:, None] - 1 + (cell * n_cols[:, None]) // size
    c1 = x1[:, None] - 1 + ((cell + 1) * n_cols[:, None] + size - 1) // size
    start = (base[:, None] + torch.arange(3, device=device) * plane[:, None])[:, :, None, None]

    def corner(rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
        index = rows[:, :, None] * row_len[:, None, None] + cols[:, None, :]
        return flat[start + index[:, None]]

    sums = corner(r1, c1) - corner(r0, c1) - corner(r1, c0) + corner(r0, c0)
    areas = ((r1 - r0)[:, :, None] * (c1 - c0)[:, None, :])[:, None]
    out = (sums / areas).float()
    out[~valid] = 0
    return out


def detect_below(min_face_px: int) -> int:
    """The smallest face MTCNN looks for when faces under `min_face_px` do not count: a little
    below it, so faces right at the limit are not missed (the pipeline drops the rest)."""
    return max(12, int(min_face_px * 0.8))


class MTCNN:
    def __init__(self, device: torch.device, min_face: int = 20) -> None:
        self.device = device
        self.min_face = min_face
        self.pnet = _load(PNet(), "pnet.pt", device)
        self.rnet = _load(RNet(), "rnet.pt", device)
        self.onet = _load(ONet(), "onet.pt", device)

    def _crops(self, images: list[torch.Tensor], boxes: torch.Tensor, owners: torch.Tensor,
               size: int) -> torch.Tensor:
        """Resample each box's region (clipped to its image) to size x size, normalised.

        Area resampling (facenet-pytorch's imresample). On CUDA every box is read at once
        from summed-area tables (`area_crops`): a loop there is one kernel launch per
        candidate, thousands per batch. On a CPU the loop is 4x faster than the tables'
        gathers (3,573 candidates: 231 vs 995 ms), so it stays; the two agree to 1e-7
        (tests/cuda/test_cuda_parity.py compares them on the GPU).
        """
        if self.device.type == "cuda":
            return (area_crops(images, boxes, owners, size) - 127.5) * 0.0078125
        coords = boxes.trunc().int().cpu().numpy()
        owner = owners.cpu().numpy()
        out = torch.empty((len(coords), 3, size, size), device=self.device)
        for k, (x1, y1, x2, y2) in enumerate(coords[:, :4]):
            image = images[owner[k]]
            h, w = image.shape[1:]
            x1, y1 = max(int(x1), 1), max(int(y1), 1)
            x2, y2 = min(int(x2), w), min(int(y2), h)
            if x2 <= x1 - 1 or y2 <= y1 - 1:
                out[k] = 0
                continue
            region = image[:, y1 - 1 : y2, x1 - 1 : x2].unsqueeze(0)
            out[k] = interpolate(region, size=(size, size), mode="area")[0]
        return (out - 127.5) * 0.0078125

    @torch.inference_mode()
    def detect(self, images: list[np.ndarray]) -> list[Detections]:
        """Faces in each image (RGB uint8 H x W x 3), any mix of sizes."""
        if not images:
            return []
        tensors = [torch.from_numpy(np.ascontiguousarray(img)).to(self.device)
                   .permute(2, 0, 1).float() for img in images]
        boxes, owners = self._stage_one(tensors)
        if len(boxes):
            boxes, owners = self._stage_two(tensors, boxes, owners)
        points = torch.zeros(0, 5, 2, device=self.device)
        if len(boxes):
            boxes, owners, points = self._stage_three(tensors, boxes, owners)
        boxes_np, points_np = boxes.cpu().numpy(), points.cpu().numpy()
        owners_np = owners.cpu().numpy()
        results = []
        for i in range(len(images)):
            sel = owners_np == i
            results.append(Detections(boxes_np[sel, :4].astype(np.float32),
                                      boxes_np[sel, 4].astype(np.float32),
                                      points_np[sel].astype(np.float32)))
        return results

    def _stage_one(self, tensors: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        by_size: dict[tuple[int, int], list[int]] = {}
        for i, t in enumerate(tensors):
            by_size.setdefault(tuple(t.shape[1:]), []).append(i)
        all_boxes, all_owners = [], []
        for (h, w), members in by_size.items():
            batch = torch.stack([tensors[i] for i in members])
            index = torch.as_tensor(members, device=self.device)
            m = 12.0 / self.min_face
            side = min(h, w) * m
            scale = m
            group_boxes, group_owners = [], []
            while side >= 12:
                data = interpolate(batch, size=(int(h * scale + 1), int(w * scale + 1)),
                                   mode="area")
                reg, probs = self.pnet((data - 127.5) * 0.0078125)
                found, local = _generate(reg, probs[:, 1], scale, THRESHOLDS[0])
                keep = batched_nms(found[:, :4], found[:, 4], local, 0.5)
                group_boxes.append(found[keep])
                group_owners.append(index[local[keep]])
                scale *= FACTOR
                side *= FACTOR
            if not group_boxes:
                continue
            found = torch.cat(group_boxes)
            owners = torch.cat(group_owners)
            keep = batched_nms(found[:, :4], found[:, 4], owners, 0.7)
            all_boxes.append(found[keep])
            all_owners.append(owners[keep])
        if not all_boxes:
            return torch.zeros(0, 9, device=self.device), torch.zeros(0, dtype=torch.long,
                                                                      device=self.device)
        boxes = torch.cat(all_boxes)
        owners = torch.cat(all_owners)
        w = boxes[:, 2] - boxes[:, 0]
        h = boxes[:, 3] - boxes[:, 1]
        refined = torch.stack([boxes[:, 0] + boxes[:, 5] * w, boxes[:, 1] + boxes[:, 6] * h,
                               boxes[:, 2] + boxes[:, 7] * w, boxes[:, 3] + boxes[:, 8] * h,
                               boxes[:, 4]]).permute(1, 0)
        return _square(refined), owners

    def _stage_two(self, tensors, boxes, owners):
        reg, probs = self.rnet(self._crops(tensors, boxes, owners, 24))
        score = probs[:, 1]
        passed = score > THRESHOLDS[1]
        boxes = torch.cat((boxes[passed, :4], score[passed].unsqueeze(1)), dim=1)
        owners, reg = owners[passed], reg[passed]
        keep = batched_nms(boxes[:, :4], boxes[:, 4], owners, 0.7)
        boxes, owners, reg = boxes[keep], owners[keep], reg[keep]
        return _square(_regress(boxes, reg)), owners

    def _stage_three(self, tensors, boxes, owners):
        reg, landmarks, probs = self.onet(self._crops(tensors, boxes, owners, 48))
        score = probs[:, 1]
        passed = score > THRESHOLDS[2]
        boxes = torch.cat((boxes[passed, :4], score[passed].unsqueeze(1)), dim=1)
        owners, reg, landmarks = owners[passed], reg[passed], landmarks[passed]
        w = (boxes[:, 2] - boxes[:, 0] + 1).unsqueeze(1)
        h = (boxes[:, 3] - boxes[:, 1] + 1).unsqueeze(1)
        xs = w * landmarks[:, :5] + boxes[:, 0:1] - 1
        ys = h * landmarks[:, 5:10] + boxes[:, 1:2] - 1
        points = torch.stack((xs, ys), dim=2)
        boxes = _regress(boxes, reg)
        keep = batched_nms(boxes[:, :4], boxes[:, 4], owners, 0.7, method="min")
        return boxes[keep], owners[keep], points[keep]
