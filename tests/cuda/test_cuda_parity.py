"""On a GPU, the CUDA path gives the CPU path's answers: the same faces (boxes and landmarks
within 2 px), embeddings with cosine >= 0.999 (fp32 with TF32 convolutions, channels-last,
and fp16), the same analysis, and the worker's engine end to end on the GPU.

Skipped where torch sees no CUDA device (CI, the development machines); run on a GPU host:
    .venv/bin/python -m pytest -m cuda tests/cuda -v
LFW View 1 pair decisions, CPU against GPU, are bench/gpu_parity.py (LFW is for measuring,
never a test fixture).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bench.inputs import as_array, group_1080p, portraits_640x480
from services.vision.embedders import load_embedder
from services.vision.mtcnn import MTCNN
from services.vision.pipeline import FacePipeline
from shared import canonical
from shared.results import ANALYSIS_FIELDS
from shared.settings import Settings
from shared.tasks import image_spec

pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")]

CPU, CUDA = torch.device("cpu"), torch.device("cuda")
IMAGES = ["obama.jpg", "obama2.jpg", "biden.jpg", "astronaut.png", "t1.jpg", "players.jpg",
          "yaoming.jpg"]


@pytest.fixture(scope="module")
def settings() -> Settings:
    return Settings()


@pytest.fixture(scope="module")
def pictures(faces: dict[str, bytes]) -> dict[str, np.ndarray]:
    out = {name: as_array(faces[name]) for name in IMAGES}
    out["group_1080p"] = as_array(group_1080p())
    for k, data in enumerate(portraits_640x480()):
        out[f"portrait_{k}"] = as_array(data)
    return out


@pytest.fixture(scope="module")
def detections(pictures):
    torch.set_grad_enabled(False)
    names = list(pictures)
    images = [pictures[n] for n in names]
    on_cpu = MTCNN(CPU, 24).detect(images)
    on_gpu = MTCNN(CUDA, 24).detect(images)  # one batch: images of several sizes together
    return names, on_cpu, on_gpu


def _matched(a, b):
    """Pairs of indices of a and b, each a face's best overlap in the other."""
    pairs = []
    for i, box in enumerate(a.boxes):
        x1 = np.maximum(box[0], b.boxes[:, 0])
        y1 = np.maximum(box[1], b.boxes[:, 1])
        x2 = np.minimum(box[2], b.boxes[:, 2])
        y2 = np.minimum(box[3], b.boxes[:, 3])
        inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
        area = lambda r: (r[..., 2] - r[..., 0]) * (r[..., 3] - r[..., 1])  # noqa: E731
        iou = inter / (area(box) + area(b.boxes) - inter)
        pairs.append((i, int(np.argmax(iou)), float(iou.max())))
    return pairs


def test_detection_finds_the_same_faces_within_two_pixels(detections):
    names, on_cpu, on_gpu = detections
    total = 0
    for name, a, b in zip(names, on_cpu, on_gpu, strict=True):
        assert len(a) == len(b), f"{name}: {len(a)} faces on CPU, {len(b)} on CUDA"
        for i, j, iou in _matched(a, b):
            assert iou > 0.95, name
            assert np.abs(a.boxes[i] - b.boxes[j]).max() <= 2.0, name
            assert np.abs(a.points[i] - b.points[j]).max() <= 2.0, name
            assert abs(a.probs[i] - b.probs[j]) < 1e-3, name
            total += 1
    assert total >= 30  # the group photo alone has 10


def test_gpu_area_crops_equal_the_cpu_loop(pictures):
    torch.set_grad_enabled(False)
    images = [pictures["t1.jpg"], pictures["group_1080p"]]
    cpu, gpu = MTCNN(CPU, 24), MTCNN(CUDA, 24)
    tensors = [torch.from_numpy(i.copy()).permute(2, 0, 1).float() for i in images]
    boxes, owners = cpu._stage_one(tensors)
    assert len(boxes) > 100
    for size in (24, 48):
        a = cpu._crops(tensors, boxes, owners, size)
        b = gpu._crops([t.to(CUDA) for t in tensors], boxes.to(CUDA), owners.to(CUDA), size)
        assert (a - b.cpu()).abs().max().item() < 1e-4


def _crops(pictures, detections, embedder):
    names, on_cpu, _ = detections
    out = []
    for name, det in zip(names, on_cpu, strict=True):
        for k in range(len(det)):
            if min(det.boxes[k, 2] - det.boxes[k, 0], det.boxes[k, 3] - det.boxes[k, 1]) >= 30:
                out.append(embedder.crop(pictures[name], det.boxes[k], det.points[k]))
    return out


@pytest.mark.parametrize(("half", "channels_last"), [(False, False), (False, True),
                                                     (True, True)])
def test_facenet_embeddings_agree(settings, pictures, detections, half, channels_last):
    cpu = load_embedder("facenet", CPU, settings.model_dir)
    gpu = load_embedder("facenet", CUDA, settings.model_dir, half=half,
                        channels_last=channels_last)
    crops = _crops(pictures, detections, cpu)
    assert len(crops) >= 30
    a, b = cpu.embed(crops), gpu.embed(crops)
    cosines = np.sum(a * b, axis=1)
    assert cosines.min() >= 0.999, cosines.min()


def test_the_pipeline_end_to_end_agrees(settings, faces):
    torch.set_grad_enabled(False)

    def pipeline(device):
        return FacePipeline(MTCNN(device, 24).detect,
                            load_embedder("facenet", device, settings.model_dir), min_face=30)

    request = {"images": [image_spec(faces[name], canonical.ALL, rotate=True,
                                               embed=True) for name in IMAGES]}
    a, b = pipeline(CPU).run(request), pipeline(CUDA).run(request)
    for image_a, image_b in zip(a.images, b.images, strict=True):
        assert len(image_a.faces) == len(image_b.faces)
        for fa, fb in zip(image_a.faces, image_b.faces, strict=True):
            assert np.abs(np.subtract(fa.box, fb.box)).max() <= 2
            assert float(fa.embedding @ fb.embedding) >= 0.999


def test_arcface_on_cuda_agrees(settings, pictures, detections):
    cpu = load_embedder("arcface", CPU, settings.model_dir)
    gpu = load_embedder("arcface", CUDA, settings.model_dir)
    crops = _crops(pictures, detections, cpu)
    cosines = np.sum(cpu.embed(crops) * gpu.embed(crops), axis=1)
    assert cosines.min() >= 0.999, cosines.min()


def test_analysis_agrees(settings, faces):
    pytest.importorskip("dlib")
    try:
        from services.vision.analysis.analyser import Analyser, AnalysisJob

        cpu = Analyser(settings.model_dir, CPU, 4, settings.liveness_threshold)
        gpu = Analyser(settings.model_dir, CUDA, 4, settings.liveness_threshold)
    except FileNotFoundError as exc:
        pytest.skip(f"analysis models not installed here: {exc}")
    torch.set_grad_enabled(False)
    detector = FacePipeline(MTCNN(CPU, 24).detect, load_embedder("facenet", CPU,
                                                                  settings.model_dir))
    jobs = []
    for name in ["obama.jpg", "biden.jpg", "t1.jpg", "astronaut.png"]:
        image = detector.run({"images": [image_spec(faces[name])]}).images[0]
        jobs.append(AnalysisJob(as_array(faces[name]), image.faces,
                                frozenset(ANALYSIS_FIELDS)))
    for faces_a, faces_b in zip(cpu(jobs), gpu(jobs), strict=True):
        for a, b in zip(faces_a, faces_b, strict=True):
            # dlib and the heuristics run on the CPU in both; the networks move to the GPU
            assert a.landmarks == b.landmarks
            assert a.pose == b.pose
            assert abs(a.age - b.age) <= 0.5
            assert a.gender.value == b.gender.value
            for emotion, p in a.emotion.probabilities.model_dump().items():
                assert abs(p - getattr(b.emotion.probabilities, emotion)) < 0.01
            assert abs(a.liveness.score - b.liveness.score) < 0.01
    # the eye probe (FaceNet's first stages on the GPU): the gate's eye check and the
    # detector's second look read it
    from services.vision.analysis.eye_probe import PROBE_FIELD

    probe_jobs = [AnalysisJob(job.image, job.faces, frozenset({PROBE_FIELD})) for job in jobs]
    for faces_a, faces_b in zip(cpu(probe_jobs), gpu(probe_jobs), strict=True):
        for a, b in zip(faces_a, faces_b, strict=True):
            assert np.allclose(a.eye_probe, b.eye_probe, atol=0.01), (a, b)


def test_the_worker_engine_runs_on_cuda(settings, faces):

    from workers.engine import Engine

    engine = Engine(settings.changed(device="cuda"))
    assert engine.device.type == "cuda"
    engine.warm_up()
    result = engine.run({"images": [image_spec(faces["obama.jpg"], canonical.LARGEST,
                                                         rotate=True, embed=True)]})
    assert len(result.images[0].faces) == 1
    assert engine.embed_batcher.stats.items >= 1
