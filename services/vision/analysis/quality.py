"""Image-quality estimates for one face, measured on the landmark chip (the face aligned onto
256 x 256 by its 5 points, landmarks.py): no trained quality model exists offline.

- illumination: mean luma (BT.601 Y, 0-255) inside the face outline, as Baidu defines it.
- blur: BLUR_SCALE / (BLUR_SCALE + v), v the Laplacian's variance inside the face: 0 sharp, 1
  flat. Faces far smaller than the chip are upsampled and read blurrier, which is right for
  recognition.
- occlusion per region: the share of the region's pixels not of the face's own skin colour
  (learnt per face from the pixels a strict YCrCb rule accepts, so a mask or sunglasses do not
  teach it; a pixel is skin within CHROMA_TOLERANCE of that colour's chroma and at least 0.4 of
  its luma), rescaled against what an unoccluded face shows there (REGION_BASE). Only chip
  pixels from the photo count: a face cut by the edge is incomplete, not occluded.
- eyes: an open eye is textured, so colour counts less where the eye region has contrast, and a
  flat eye region counts as covered whatever its colour (skin-coloured bars); where the eye
  probe (eye_probe.py) is given, an eye is covered only as far as both readings say so.
- completeness: 0 when an eye, the nose or a mouth corner lies outside the photo by more than
  EDGE_TOLERANCE; brows, lips and jaw may run off the edge (a close-up that loses the chin is
  recognisable).

How each constant was chosen, with the figures: docs/performance.md, "The enrolment gate".
"""

from __future__ import annotations

import cv2
import numpy as np

from services.vision.analysis.landmarks import CHIP

BLUR_SCALE = 60.0
CHROMA_TOLERANCE = 12.0
REGION_BASE = {"left_eye": 0.65, "right_eye": 0.65, "nose": 0.2, "mouth": 0.45,
               "left_cheek": 0.2, "right_cheek": 0.2, "chin": 0.2}
REGIONS = tuple(REGION_BASE)
# Eye contrast ((p95 - p5) / face median luma) under which colour counts fully, and above
# which it does not count; and the band under which an eye region reads covered outright.
EYE_TEXTURED = (0.25, 0.45)
EYE_FLAT_CONTRAST = (0.08, 0.14)
# 68-point indices that must lie inside the photo: nose (27-35), eyes (36-47), mouth corners.
NEEDED_INSIDE = np.r_[27:48, 48, 54]
# How far beyond the edge (in inter-ocular distances) a needed point may lie: on a photo cut at
# the mouth or an eye's outer corner, dlib places the points on the edge's far side by a few
# pixels (0.01-0.10 on the LFW close-ups the stricter rule refused, looked at by eye: lips or a
# corner of the eye touching the edge, the face complete); a mouth the photo really cuts lies
# further out (0.18-0.46 on the close-ups that lose their lower lip, and the photos cut below
# the nose of bench/gate.py's unusable set, about 0.5 and more).
EDGE_TOLERANCE = 0.1


def _polygon_mask(points: np.ndarray, shrink: float = 1.0) -> np.ndarray:
    centre = points.mean(0)
    scaled = centre + (points - centre) * shrink
    mask = np.zeros((CHIP, CHIP), np.uint8)
    cv2.fillPoly(mask, [np.round(scaled).astype(np.int32)], 1)
    return mask.astype(bool)


def _eye_frame_box(p: np.ndarray, half_width: float, top: float, bottom: float) -> np.ndarray:
    """A box below the eyes in units of the inter-ocular distance, turned with the eye line."""
    left, right = p[36:42].mean(0), p[42:48].mean(0)
    across = right - left
    iod = float(np.linalg.norm(across))
    across /= iod
    down = np.array([-across[1], across[0]])
    centre = (left + right) / 2
    return np.array([centre + iod * (sx * half_width * across + sy * down)
                     for sx, sy in ((-1, top), (1, top), (1, bottom), (-1, bottom))])


def region_masks(p: np.ndarray) -> dict[str, np.ndarray]:
    """Region masks on the chip, from the 68 points in chip coordinates. Left = image left.

    The nose and mouth are placed from the eyes (nose 0.3-0.7, mouth 0.95-1.35 inter-ocular
    distances below the eye line, as on the ArcFace template), not from their own landmarks:
    under a mask dlib guesses those, and in a masked test face it put the nose tip above the
    mask's edge. The eyes stay visible and their landmarks reliable."""
    def eye(indices, brow):
        outline = p[indices]
        centre = outline.mean(0)
        # the eye with its lids: the outline grown 1.8x, up to half way to the brow
        grown = centre + (outline - centre) * np.array([1.5, 2.4])
        top = min(grown[:, 1].min(), (centre[1] + p[brow][:, 1].mean()) / 2)
        grown[:, 1] = np.maximum(grown[:, 1], top)
        return _polygon_mask(grown)

    return {
        "left_eye": eye(range(36, 42), range(17, 22)),
        "right_eye": eye(range(42, 48), range(22, 27)),
        "nose": _polygon_mask(_eye_frame_box(p, 0.25, 0.3, 0.7)),
        "mouth": _polygon_mask(_eye_frame_box(p, 0.45, 0.95, 1.35)),
        "left_cheek": _polygon_mask(p[[1, 2, 3, 4, 48, 31, 40, 41, 36]], 0.8),
        "right_cheek": _polygon_mask(p[[15, 14, 13, 12, 54, 35, 47, 46, 45]], 0.8),
        "chin": _polygon_mask(p[[5, 6, 7, 8, 9, 10, 11, 55, 56, 57, 58, 59]], 0.85),
    }


def face_mask(p: np.ndarray) -> np.ndarray:
    """Inside the jaw line and up to the brows."""
    outline = np.vstack([p[0:17], p[26:16:-1]])
    return _polygon_mask(outline)


def _skin_seed(y: np.ndarray, cr: np.ndarray, cb: np.ndarray) -> np.ndarray:
    # A strict YCrCb skin rule (after Chai and Ngan): clearly red-shifted chroma in pixels
    # bright enough for chroma to mean something. Grey, white, black and blue cloth fail it.
    return (cr >= 135) & (cr <= 176) & (cb >= 74) & (cb <= 125) & (cr - cb >= 15) & (y >= 50)


def skin_map(ycrcb: np.ndarray, inside: np.ndarray) -> np.ndarray:
    if not inside.any():
        return np.zeros(inside.shape, bool)  # no face pixel from the photo: nothing to learn
    y, cr, cb = (ycrcb[..., i].astype(np.float32) for i in range(3))
    seed = inside & _skin_seed(y, cr, cb)
    if seed.sum() < 0.05 * inside.sum():
        seed = inside  # grey or strongly tinted image: the face's median colour
    ref_cr, ref_cb, ref_y = (float(np.median(c[seed])) for c in (cr, cb, y))
    return ((np.abs(cr - ref_cr) < CHROMA_TOLERANCE) & (np.abs(cb - ref_cb) < CHROMA_TOLERANCE)
            & (y > 0.4 * ref_y))


def _ramp(value: float, low: float, high: float) -> float:
    """1 at or below `low`, 0 at or above `high`, linear between."""
    return float(np.clip((high - value) / (high - low), 0.0, 1.0))


def eye_contrast(luma: np.ndarray, p: np.ndarray, indices: range, face_luma: float) -> float:
    outline = p[list(indices)]
    centre = outline.mean(0)
    values = luma[_polygon_mask(centre + (outline - centre) * np.array([1.3, 1.8]))]
    if values.size == 0:
        return 0.0
    return float(np.percentile(values, 95) - np.percentile(values, 5)) / max(face_luma, 1.0)


def occlusion(ycrcb: np.ndarray, p: np.ndarray, valid: np.ndarray | None = None,
              eyes_covered: tuple[float, float] | None = None) -> dict[str, float]:
    """Occlusion per region, 0-1. `valid`: chip pixels that come from the photo;
    `eyes_covered`: the eye probe's P(covered) for the image-left and image-right eye."""
    valid = np.ones(ycrcb.shape[:2], bool) if valid is None else valid
    inside = face_mask(p) & valid
    skin = skin_map(ycrcb, inside)
    luma = ycrcb[..., 0].astype(np.float32)
    face_luma = float(np.median(luma[inside])) if inside.any() else 128.0
    out = {}
    for name, region in region_masks(p).items():
        seen = region & valid
        count = int(seen.sum())
        if count < 0.3 * max(int(region.sum()), 1):  # mostly outside the photo: cut, not hidden
            out[name] = 0.0
            continue
        raw = 1.0 - float(skin[seen].sum()) / count
        base = REGION_BASE[name]
        value = float(np.clip((raw - base) / (1.0 - base), 0.0, 1.0))
        if name in ("left_eye", "right_eye"):
            contrast = eye_contrast(luma, p, range(36, 42) if name == "left_eye"
                                    else range(42, 48), face_luma)
            value *= _ramp(contrast, *EYE_TEXTURED)
            if eyes_covered is not None:
                value = min(value, float(eyes_covered[0 if name == "left_eye" else 1]))
            value = max(value, _ramp(contrast, *EYE_FLAT_CONTRAST))
        out[name] = round(value, 4)
    return out


def raw_nonskin(ycrcb: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """The unscaled shares, for calibrating REGION_BASE (bench/analysis_heads.py)."""
    skin = skin_map(ycrcb, face_mask(p))
    return {name: 1.0 - float(skin[r].mean()) if r.any() else 0.0
            for name, r in region_masks(p).items()}


def blur(grey_chip: np.ndarray, inside: np.ndarray) -> tuple[float, float]:
    """(blur in [0, 1], the Laplacian variance it came from)."""
    laplacian = cv2.Laplacian(grey_chip, cv2.CV_32F, ksize=3)
    variance = float(laplacian[inside].var()) if inside.any() else 0.0
    return round(BLUR_SCALE / (BLUR_SCALE + variance), 4), round(variance, 2)


def illumination(ycrcb: np.ndarray, inside: np.ndarray) -> int:
    return round(float(ycrcb[..., 0][inside].mean())) if inside.any() else 0


def completeness(points68: np.ndarray, width: int, height: int) -> int:
    """1 unless the face is cut off by the photo's edge (module docstring). A point within
    EDGE_TOLERANCE inter-ocular distances beyond the edge counts as inside."""
    needed = points68[NEEDED_INSIDE]
    iod = float(np.linalg.norm(points68[42:48].mean(0) - points68[36:42].mean(0)))
    slack = EDGE_TOLERANCE * iod
    return int(((needed >= -slack) & (needed <= [width - 1 + slack, height - 1 + slack])).all())
