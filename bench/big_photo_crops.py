"""Whether a face in a big photo embeds better cropped from the photo's own pixels than from
the working copy the detector runs on (services/vision/pipeline.Detail), measured on LFW
View 1's pairsDevTest (1,000 pairs, 1,549 images; nothing here was tuned on them).

    .venv/bin/python -m bench.big_photo_crops [--embedder facenet]

A photo over 24 megapixels is detected on a copy about 24 MP large: a 48 MP photo's copy is
1.41 times smaller on each side, a 100 MP photo's 2.04 times. Each LFW image (the whole
250 x 250, its face about 110 px; scaled by `face` first to make the face smaller, so the
smaller face still holds only real detail) is placed in the middle of a textured 600 x 600
canvas, and the pipeline is given a working size `reduce` squared times smaller than the
canvas: every ratio of the big photo on its copy is kept (the face's size in the photo and
in the copy, the JPEG draft decision), at a fraction of the time. Three ways:

- ceiling: the canvas not reduced (what a photo under 24 MP gets);
- copy: reduced, every crop from the working copy (the product before Detail);
- detail: reduced, a face smaller in the copy than the embedder's input cropped from the
  photo's own pixels (the product now).

Printed per way: images with a face, 10-fold accuracy on the 1,000 pairs, and at the
recommended score (0.80) the share of genuine pairs accepted (TAR) and of impostors (FMR).
"""

from __future__ import annotations

import argparse
import io
import time

import numpy as np
import torch
from PIL import Image

from bench.lfw import DEFAULT_ROOT, read_pairs, ten_fold
from services.vision.embedders import load_embedder
from services.vision.mtcnn import MTCNN, detect_below
from services.vision.pipeline import FacePipeline
from shared import canonical
from shared.models import RECOMMENDED_SCORE, model_for
from shared.results import ImageResult
from shared.settings import get_settings
from shared.tasks import image_spec

CANVAS = 600
# (face scale, reduction): a 110 px face in a 100 MP photo, a 66 px face in a 48 MP photo
CASES = [(1.0, 2.04), (0.6, 1.41)]


def photo(path, face: float, background: np.ndarray) -> bytes:
    image = Image.open(path).convert("RGB")
    if face != 1.0:
        image = image.resize((round(image.width * face), round(image.height * face)),
                             Image.LANCZOS)
    canvas = Image.fromarray(background)
    canvas.paste(image, ((CANVAS - image.width) // 2, (CANVAS - image.height) // 2))
    buffer = io.BytesIO()
    canvas.save(buffer, "JPEG", quality=92)
    return buffer.getvalue()


def embeddings(pipeline: FacePipeline, photos: list[bytes]) -> list[np.ndarray | None]:
    out: list[np.ndarray | None] = []
    for start in range(0, len(photos), 16):
        result = pipeline.run({"images": [image_spec(p, canonical.LARGEST, embed=True)
                                          for p in photos[start:start + 16]]})
        out += [image.faces[0].embedding if isinstance(image, ImageResult) and image.faces
                else None for image in result.images]
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--embedder", default="facenet")
    args = parser.parse_args()
    settings = get_settings()
    device = torch.device("cpu")
    detect = MTCNN(device, detect_below(settings.min_face_px)).detect
    embedder = load_embedder(args.embedder, device, settings.model_dir)
    spec = model_for(args.embedder)
    pairs = read_pairs(DEFAULT_ROOT, "pairsDevTest.txt")
    names = sorted({p.a for p in pairs} | {p.b for p in pairs})
    index = {n: k for k, n in enumerate(names)}
    same = np.array([p.same for p in pairs])
    rng = np.random.default_rng(0)
    small = rng.integers(60, 200, (CANVAS // 40, CANVAS // 40, 3), dtype=np.uint8)
    background = np.asarray(Image.fromarray(small).resize((CANVAS, CANVAS), Image.BICUBIC))
    print(f"{spec.key}: pairsDevTest, {len(pairs)} pairs, {len(names)} images; canvas "
          f"{CANVAS} px")
    for face, reduce in CASES:
        photos = [photo(DEFAULT_ROOT / n, face, background) for n in names]
        print(f"face x{face} (about {round(110 * face)} px in the photo); a photo "
              f"{reduce ** 2 * 24:.0f} MP large: its copy {reduce} times smaller, the face "
              f"about {round(110 * face / reduce)} px there")
        ways = [("ceiling (not reduced)", CANVAS * CANVAS * 4, False),
                ("copy (crops from the working copy)", int(CANVAS ** 2 / reduce ** 2), False),
                ("detail (small faces from the photo)", int(CANVAS ** 2 / reduce ** 2), True)]
        for label, work_pixels, detail in ways:
            pipeline = FacePipeline(detect, embedder, min_face=settings.min_face_px,
                                    work_pixels=work_pixels, detail=detail)
            started = time.perf_counter()
            vectors = embeddings(pipeline, photos)
            seconds = time.perf_counter() - started
            cosines = np.array([-1.0 if vectors[index[p.a]] is None or vectors[index[p.b]] is None
                                else float(np.dot(vectors[index[p.a]], vectors[index[p.b]]))
                                for p in pairs])
            scores = np.array([spec.score(c) if c > -1 else 0.0 for c in cosines])
            mean, std = ten_fold(cosines, same)
            accepted = scores >= RECOMMENDED_SCORE
            print(f"  {label:<38} faces {sum(v is not None for v in vectors)}/{len(names)}  "
                  f"10-fold accuracy {mean:.4f} +- {std:.4f}  at score {RECOMMENDED_SCORE}: "
                  f"TAR {accepted[same].mean():.3f} FMR {accepted[~same].mean():.3f}  "
                  f"({seconds:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
