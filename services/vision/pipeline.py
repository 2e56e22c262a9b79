"""The face pipeline: decode, detect (with the rotation search), choose faces, crop, embed.

Pure compute. The detector and the embedder's forward pass are passed in as functions over
lists, so the worker can hand them batchers shared by many tasks while a benchmark or a test
calls the models directly.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from services.vision.align import REGION_SIDE, face_region, square_thumbnail
from services.vision.analysis.analyser import AnalysisJob
from services.vision.analysis.eye_probe import PROBE_FIELD
from services.vision.embedders import Embedder
from services.vision.mtcnn import Detections
from services.vision.removewater import remove_mesh
from services.vision.subject import subject_order
from shared import canonical
from shared.budget import ByteBudget
from shared.errors import ERRORS, FaceError
from shared.images import (
    HARD_MAX_PIXELS,
    WORK_PIXELS,
    DecodeCost,
    Decoded,
    decode,
    decode_cost,
    encode_jpeg,
    full_resolution,
    pixel_limit,
)
from shared.results import FaceAnalysis, FaceResult, ImageError, ImageResult, VisionResult
from shared.tasks import ImageSpec, VisionRequest

DetectFn = Callable[[list[np.ndarray]], list[Detections]]
EmbedFn = Callable[[list[np.ndarray]], np.ndarray]
AnalyseFn = Callable[[list[AnalysisJob]], list[list[FaceAnalysis]]]

# Quarter turns tried, in order, when no upright face is found: phones mostly produce 90/270.
_ROTATIONS = (1, 3, 2)
# Looking at four orientations gives a false positive four chances: a face found only in a
# turned view must be confident (real faces score 0.99+, the coffee cup in skimage's
# coffee.png reads 0.75 when turned) and have upright landmarks.
ROTATED_MIN_PROB = 0.95


def _unrotate(points: np.ndarray, turns: int, width: int, height: int) -> np.ndarray:
    """Map (x, y) points found in np.rot90(image, turns) back to the original image."""
    x, y = points[..., 0], points[..., 1]
    if turns == 1:
        x, y = width - 1 - y, x
    elif turns == 2:
        x, y = width - 1 - x, height - 1 - y
    elif turns == 3:
        x, y = y, height - 1 - x
    return np.stack([x, y], axis=-1)


def _upright(det: Detections, index: int) -> bool:
    """Landmarks of an upright face: eyes left-to-right, both above the mouth corners."""
    p = det.points[index]
    eyes_y = (p[0, 1] + p[1, 1]) / 2
    mouth_y = (p[3, 1] + p[4, 1]) / 2
    return bool(p[0, 0] < p[1, 0] and eyes_y < p[2, 1] < mouth_y)


# MTCNN's last stage keeps a face at 0.7; below 0.97 lie most of its phantoms (a blurred chair
# at 0.952 beside obama.jpg, motorcycle parts at 0.81-0.85) and few frontal faces: measured by
# bench/detector_precision.py (docs/performance.md, "Detector precision").
DETECT_MIN_SCORE = 0.97
# A second look where no face reaches the floor: MTCNN's doubts from SECOND_LOOK_SCORE up count
# when the eye probe sees both eyes plainly (P(covered) under SECOND_LOOK_EYES). Plain portraits
# it doubts in a tight crop (Marilyn Monroe, Elvis Presley in LFW: 0.91-0.97) read 0.03 or
# less; faces under a skin-toned bar, which MTCNN also doubts and the gate's eye check misses,
# mostly read more (bench/gate.py's figures, docs/api.md). No faceless test photo scores 0.9.
SECOND_LOOK_SCORE = 0.9
# JPEG quality of a stored face region: bench/reembed.py measures its size and what
# re-embedding from it costs in accuracy against enrolling the photos afresh
REGION_QUALITY = 90
SECOND_LOOK_EYES = 0.05


def counted(det: Detections, min_face: int, min_score: float) -> np.ndarray:
    """Indices of the faces that count: both sides at least `min_face`, scored `min_score`."""
    w = det.boxes[:, 2] - det.boxes[:, 0]
    h = det.boxes[:, 3] - det.boxes[:, 1]
    return np.flatnonzero((w >= min_face) & (h >= min_face) & (det.probs >= min_score))


def _to_photo(face: FaceResult, scale: float) -> None:
    """A face found on a working copy `scale` times smaller, moved to the photo's pixels: its
    box, its landmarks and the analysis's landmark sets."""
    face.box = tuple(round(v * scale) for v in face.box)
    face.points = [(x * scale, y * scale) for x, y in face.points]
    landmarks = face.analysis.landmarks
    if landmarks is not None:
        for name in type(landmarks).model_fields:
            setattr(landmarks, name, [(round(x * scale, 1), round(y * scale, 1))
                                      for x, y in getattr(landmarks, name)])


class Detail:
    """A big photo's own pixels, decoded only when one of its faces is too small in the
    working copy for the crop it needs (the embedder's input, a thumbnail): that crop is then
    made from the photo at its own size, which measured better (docs/performance.md, "Big
    photos"). Upright views only: a face found in a turned view keeps the copy's crop."""

    # of the box's larger side, each way: the embedders' margins, and the stored region's
    # square of twice that side (align.face_region) for boxes at least half as wide as tall
    GROW = 0.75

    def __init__(self, data: bytes, photo: Decoded, limit) -> None:
        self.data, self.photo, self.limit = data, photo, limit
        self._image = None

    def region(self, box: np.ndarray, points: np.ndarray, need: int
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """(the photo's pixels around the face, its box and points there), or None when the
        face (in the copy's pixels) is at least `need` px or the photo was not reduced."""
        scale = self.photo.scale
        side = max(box[2] - box[0], box[3] - box[1])
        if scale <= 1.0 or side >= need:
            return None
        if self._image is None:
            self._image = full_resolution(self.data, self.limit)
        grow = side * scale * self.GROW
        x1, y1, x2, y2 = (float(v) * scale for v in box[:4])
        left, top = int(max(x1 - grow, 0)), int(max(y1 - grow, 0))
        right = int(min(x2 + grow, self.photo.width))
        bottom = int(min(y2 + grow, self.photo.height))
        pixels = np.asarray(self._image.crop((left, top, right, bottom)))
        offset = np.array([left, top], np.float32)
        moved = np.asarray(box, np.float32).copy()
        moved[:4] = moved[:4] * scale - np.tile(offset, 2)
        return pixels, moved, np.asarray(points, np.float32) * scale - offset


class FacePipeline:
    def __init__(self, detect: DetectFn, embedder: Embedder, embed: EmbedFn | None = None,
                 min_face: int = 30, analyse: AnalyseFn | None = None,
                 min_score: float = DETECT_MIN_SCORE, max_pixels: int = HARD_MAX_PIXELS,
                 work_pixels: int = WORK_PIXELS, detail: bool = True,
                 budget: ByteBudget | None = None,
                 run_large: Callable[[Callable[[], list]], list] | None = None) -> None:
        self.detect = detect
        # where a run too big for the budget's small lane runs (the worker's low-priority
        # thread: workers/engine.py); here by default
        self.run_large = run_large or (lambda part: part())
        # The worker's decode budget, shared by every task of the process: a request's photos
        # are decoded in groups whose memory (decode_cost) fits it, each group once its bytes
        # are free, so photos arriving together wait rather than all decode at once.
        self.budget = budget
        # the largest photo decoded at all (a dialect's own limit was checked at the gateway)
        self.limit = pixel_limit(max_pixels, budget.total if budget else None)
        self.work_pixels = work_pixels  # a bigger photo is detected on a copy this size
        self.detail = detail  # small faces of a reduced photo cropped from its own pixels
        self.embedder = embedder
        self.embed = embed or embedder.embed
        self.min_face = min_face
        self.min_score = min_score
        self.analyse = analyse

    def _keep(self, det: Detections, view: np.ndarray, indices: np.ndarray | None = None
              ) -> np.ndarray:
        """Indices of faces that count (`indices`, else those that reach the floor), the
        photo's subject first: the most visible face (services/vision/subject.py)."""
        height, width = view.shape[:2]
        return subject_order(det.boxes, det.points, width, height,
                             counted(det, self.min_face, self.min_score)
                             if indices is None else indices)

    def _second_look(self, found: dict, live: list[int]) -> dict[int, np.ndarray]:
        """Faces kept below the floor (SECOND_LOOK_*), by image: only in an upright photo where
        no face reached it, and only with the analysis models (the eye probe) at hand."""
        if self.analyse is None:
            return {}
        doubted, jobs = {}, []
        for i in live:
            turns, view, det = found[i]
            if turns or len(counted(det, self.min_face, self.min_score)):
                continue
            candidates = counted(det, self.min_face, SECOND_LOOK_SCORE)
            if len(candidates):
                doubted[i] = candidates
                # the probe reads a face's 5 points only
                jobs.append(AnalysisJob(view, [FaceResult(box=(0, 0, 1, 1), prob=0.0,
                                                          points=det.points[k].tolist())
                                               for k in candidates], frozenset({PROBE_FIELD})))
        kept = {}
        for (i, candidates), faces in zip(doubted.items(), self.analyse(jobs) if jobs else [],
                                          strict=True):
            seen = np.array([max(face.eye_probe) < SECOND_LOOK_EYES for face in faces])
            kept[i] = candidates[seen]
        return kept

    def run(self, request: VisionRequest | dict) -> VisionResult:
        """The result (shared/results.py) of a request checked against the contract
        (shared/tasks.py): a worker hands the VisionRequest it read, a bench or test may hand
        the same as a dict."""
        specs = VisionRequest.model_validate(request).images
        if self.budget is None:
            return VisionResult(model=self.embedder.spec.code, images=self._run(specs))
        results: list[ImageResult | ImageError] = []
        for group, need in self._budgeted(specs):
            def part(group: list[ImageSpec] = group, need: int = need) -> list:
                with self.budget.holding(need):
                    return self._run(group)

            results += self.run_large(part) if need > self.budget.small else part()
        return VisionResult(model=self.embedder.spec.code, images=results)

    def _budgeted(self, specs: list[ImageSpec]) -> list[tuple[list[ImageSpec], int]]:
        """The request's images in runs that each fit the budget: (images, bytes to hold).
        A run holds every working copy it decodes and, for a moment, the largest decode."""
        runs: list[tuple[list[ImageSpec], int]] = []
        group: list[ImageSpec] = []
        held = transient = 0
        for spec in specs:
            try:
                cost = decode_cost(spec.data, self.limit, self.work_pixels, self.detail)
            except FaceError:
                cost = DecodeCost(0, 0)  # decode reports it, costing nothing
            if group and held + cost.held + max(transient, cost.transient) > self.budget.total:
                runs.append((group, held + transient))
                group, held, transient = [], 0, 0
            group.append(spec)
            held += cost.held
            transient = max(transient, cost.transient)
        runs.append((group, held + transient))
        return runs

    def _run(self, specs: list[ImageSpec]) -> list[ImageResult | ImageError]:
        images: list[np.ndarray | None] = []
        photos: list[Decoded | None] = []
        results: list[ImageResult | ImageError | None] = []
        for spec in specs:
            try:
                photo = decode(spec.data, self.limit, self.work_pixels)
                photos.append(photo)
                images.append(photo.rgb)  # the working copy everything below runs on
                results.append(None)
            except FaceError as exc:
                photos.append(None)
                images.append(None)
                results.append(ImageError(error=exc.to_dict()))
        live = [i for i, img in enumerate(images) if img is not None]
        for i in [i for i in live if specs[i].clean]:
            images[i] = remove_mesh(images[i])  # an ID photo: its mesh goes before detection
        for i in [i for i in live if specs[i].remove_mesh]:
            # ID-photo mesh removal is image processing only: no detection, no models.
            height, width = images[i].shape[:2]
            results[i] = ImageResult(width=width, height=height,
                                     cleaned=encode_jpeg(remove_mesh(images[i]), quality=95))
        live = [i for i in live if not specs[i].remove_mesh]
        found: dict[int, tuple[int, np.ndarray, Detections]] = {}
        for i, det in zip(live, self.detect([images[i] for i in live]), strict=True):
            found[i] = (0, images[i], det)
        self._rotation_search(specs, images, found)
        second = self._second_look(found, live)

        crops: list[np.ndarray] = []
        owners: list[tuple[int, int]] = []
        for i in live:
            turns, view, det = found[i]
            keep = self._keep(det, view, second.get(i))
            if specs[i].faces == canonical.LARGEST:
                keep = keep[:1]
            faces = []
            # (not for an ID photo detected on its cleaned copy: the original has the mesh)
            detail = (Detail(specs[i].data, photos[i], self.limit)
                      if self.detail and turns == 0 and photos[i].scale > 1.0
                      and not specs[i].clean else None)
            for k in keep:
                faces.append(self._face(images[i], view, det, k, turns, specs[i], detail))
                if specs[i].embed:
                    crops.append(self._crop(view, det, k, detail))
                    owners.append((i, len(faces) - 1))
            results[i] = ImageResult(width=photos[i].width, height=photos[i].height,
                                     rotation=90 * turns, faces=faces)
        if crops:
            vectors = self.embed(crops)
            for (i, f), vector in zip(owners, vectors, strict=True):
                results[i].faces[f].embedding = np.array(vector, "<f4")
        self._analyse(specs, images, results, live)
        for i in live:
            if photos[i].scale != 1.0:  # found on the working copy: in the photo's own pixels
                for face in results[i].faces:
                    _to_photo(face, photos[i].scale)
        return results

    def _analyse(self, specs, images, results, live) -> None:
        wanted = [i for i in live if specs[i].analyse and results[i].faces]
        if not wanted:
            return
        if self.analyse is None:
            raise FaceError(ERRORS.ENGINE,
                            "this worker has no analysis models (FACEGATE_ANALYSIS=false)")
        jobs = [AnalysisJob(images[i], results[i].faces, frozenset(specs[i].analyse))
                for i in wanted]
        for i, analysed in zip(wanted, self.analyse(jobs), strict=True):
            for face, analysis in zip(results[i].faces, analysed, strict=True):
                face.analysis = analysis

    def _rotation_search(self, specs, images, found) -> None:
        pending = [i for i, (_, view, det) in found.items()
                   if specs[i].rotate and not self._has_upright(det, view)]
        for turns in _ROTATIONS:
            if not pending:
                return
            views = [np.ascontiguousarray(np.rot90(images[i], turns)) for i in pending]
            still = []
            for i, view, det in zip(pending, views, self.detect(views), strict=True):
                if self._has_upright(det, view, ROTATED_MIN_PROB):
                    found[i] = (turns, view, det)
                else:
                    still.append(i)
            pending = still

    def _has_upright(self, det: Detections, view: np.ndarray, min_prob: float = 0.0) -> bool:
        keep = self._keep(det, view)
        return (bool(len(keep)) and _upright(det, int(keep[0]))
                and float(det.probs[keep[0]]) >= min_prob)

    def _crop(self, view: np.ndarray, det: Detections, k: int, detail: Detail | None
              ) -> np.ndarray:
        """The embedder's crop of face k: from the photo's own pixels when the face is smaller
        in the working copy than the embedder's input."""
        region = detail.region(det.boxes[k], det.points[k], self.embedder.size) if detail else None
        if region is not None:
            return self.embedder.crop(*region)
        return self.embedder.crop(view, det.boxes[k], det.points[k])

    def _face(self, image, view, det: Detections, k: int, turns: int, spec: ImageSpec,
              detail: Detail | None = None) -> FaceResult:
        height, width = image.shape[:2]
        corners = det.boxes[k].reshape(2, 2)
        points = det.points[k]
        if turns:
            corners = _unrotate(corners, turns, width, height)
            points = _unrotate(points, turns, width, height)
        x1, y1 = np.maximum(corners.min(0), 0)
        x2, y2 = np.minimum(corners.max(0), [width - 1, height - 1])
        box = [int(v) for v in np.rint([x1, y1, x2 - x1, y2 - y1])]
        face = FaceResult(box=box, prob=float(det.probs[k]),
                          points=[(float(px), float(py)) for px, py in points])
        if spec.crops:
            x, y, w, h = box
            face.crop = encode_jpeg(np.ascontiguousarray(image[y:y + h + 1, x:x + w + 1]))
        if spec.region or spec.thumbnail:
            # One picture of the face: the region kept for re-embedding, and the thumbnail
            # made from it; from the upright view (a turned photo's face stands up), or from
            # the photo's own pixels when the face is small in the working copy.
            grown = detail.region(det.boxes[k], points, REGION_SIDE // 2) if detail else None
            pixels, around = face_region(*((grown[0], grown[1]) if grown
                                           else (view, det.boxes[k])))
            if spec.region:
                face.region = encode_jpeg(pixels, quality=REGION_QUALITY)
            if spec.thumbnail:
                face.thumbnail = encode_jpeg(
                    square_thumbnail(pixels, around, spec.thumbnail), quality=85)
        return face

