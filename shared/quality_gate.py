"""The enrolment quality gate: refuse a face an identification gallery should not hold.

One check per reading, in a fixed order, each refusal naming what failed (CloudWalk's codes:
8466 too small, 8480 too bright, 8481 too dark, 8482 blurred, 8496 occluded, turned or cut off).
Every threshold is a setting (FACEGATE_GATE_*) whose default was measured (bench/gate.py; the
figures and how they were chosen: docs/api.md, "Quality gate", and docs/performance.md, "The
enrolment gate"). Roll is measured in the view the face was found in, so a photo taken
sideways, which the pipeline turns upright, is not refused.

Enrolment runs at one of three levels (level_limits), chosen per request, per group or by
FACEGATE_QUALITY_GATE (which one wins is services/recognition/enrolment.py's rule):
- strict: every limit above;
- lenient: neither eye gated (sunglasses) and yaw, pitch or roll up to
  FACEGATE_GATE_LENIENT_MAX_ANGLE (60 degrees); tiny, dark, washed-out, heavily blurred, masked
  and cut-off faces are still refused;
- none: any detected face.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from shared.errors import ERRORS, FaceError
from shared.results import FaceAnalysis
from shared.settings import GATE_LEVELS, GateLevel, Settings, occlusion_limits

__all__ = ["GATE_FIELDS", "GATE_LEVELS", "GateLevel", "GateLimits", "enforce", "level_limits",
           "limits", "quality_score", "strictest"]

GATE_FIELDS = ("quality", "pose")
EYES = frozenset({"left_eye", "right_eye"})  # what sunglasses cover: lenient gates neither


@dataclass(frozen=True)
class GateLimits:
    """What a face must meet; each check is off at its default. The enrolment gate is
    limits(settings); a vendor's per-request thresholds (Baidu's quality_conf) are another
    GateLimits given to the same enforce()."""

    min_face: int = 0  # px, the shorter side of the box
    min_illumination: float = 0.0
    max_illumination: float = 255.0
    max_blur: float = 1.0
    max_angle: float | None = None  # degrees of yaw, pitch or roll; None: pose not gated
    occlusion: Mapping[str, float] = field(default_factory=dict)  # region -> most covered
    completeness: bool = False  # refuse a face cut by the image border


def limits(settings: Settings) -> GateLimits:
    """The enrolment gate, from FACEGATE_GATE_*."""
    return GateLimits(settings.gate_min_face, settings.gate_min_illumination,
                      settings.gate_max_illumination, settings.gate_max_blur,
                      settings.gate_max_angle, occlusion_limits(settings.gate_occlusion),
                      settings.gate_completeness)


def level_limits(settings: Settings, level: GateLevel) -> GateLimits | None:
    """What enrolment at `level` enforces (the module's docstring); None: no gate at all, so
    the worker need not read quality and pose."""
    if level == "none":
        return None
    strict = limits(settings)
    if level == "strict":
        return strict
    # never stricter than strict: a FACEGATE_GATE_MAX_ANGLE set above the lenient limit holds
    angle = max(strict.max_angle or 0.0, settings.gate_lenient_max_angle)
    return replace(strict, max_angle=angle, occlusion={
        region: limit for region, limit in strict.occlusion.items() if region not in EYES})


def strictest(levels: list[GateLevel]) -> GateLevel:
    """The strictest of `levels` (a face going into several groups meets each one's)."""
    return min(levels, key=GATE_LEVELS.index)


def enforce(box: tuple[int, ...] | list[int], analysis: FaceAnalysis, rotation: int,
            gate: GateLimits) -> None:
    """`analysis` holds a face's GATE_FIELDS (pose only when `gate` checks angles); raises
    FaceError naming the first failure (whether the gate is on is the caller's question)."""
    _, _, w, h = box
    if min(w, h) < gate.min_face:
        raise FaceError(ERRORS.FACE_TOO_SMALL,
                        f"face is {w}x{h} px, at least {gate.min_face} px needed")
    quality, pose = analysis.quality, analysis.pose
    if quality is None or (pose is None and gate.max_angle is not None):
        raise FaceError(ERRORS.ENGINE, "quality gate needs the quality and pose fields")
    # Before the other readings: on a face cut by the border they measure what is left (a face
    # cut above the mouth can read illumination 0), which would name the wrong reason.
    if gate.completeness and quality.completeness != 1:
        raise FaceError(ERRORS.IMAGE_QUALITY, "face is cut off by the image border")
    light = quality.illumination
    if light < gate.min_illumination:
        raise FaceError(ERRORS.FACE_TOO_DARK, f"illumination {light} < {gate.min_illumination}")
    if light > gate.max_illumination:
        raise FaceError(ERRORS.FACE_TOO_BRIGHT,
                        f"illumination {light} > {gate.max_illumination}")
    if quality.blur > gate.max_blur:
        raise FaceError(ERRORS.FACE_BLURRED, f"blur {quality.blur:.2f} > {gate.max_blur}")
    occluded = quality.occlusion
    for region, limit in gate.occlusion.items():
        value = getattr(occluded, region)
        if region == "mouth":
            # A mask, a scarf or a hand over the mouth covers the chin below it too; a smile's
            # teeth, an open mouth, lipstick or a moustache make the mouth alone read non-skin
            # (6 of 6 LFW DevTrain photos refused for the mouth, looked at by eye, were such).
            value = min(value, occluded.chin)
        if value > limit:
            raise FaceError(ERRORS.IMAGE_QUALITY,
                            f"{region} occluded ({value:.2f} > {limit})")
    if gate.max_angle is None:
        return
    roll = (pose.roll - rotation + 180.0) % 360.0 - 180.0
    for name, value in (("yaw", pose.yaw), ("pitch", pose.pitch), ("roll", roll)):
        if abs(value) > gate.max_angle:
            raise FaceError(ERRORS.IMAGE_QUALITY,
                            f"{name} {value:.0f} degrees, at most {gate.max_angle}")


def quality_score(analysis: FaceAnalysis, probability: float) -> float:
    """The one number stored with an enrolled face: sharpness times unoccluded share, 0-1;
    the detector's probability when no quality was measured (gate off)."""
    quality = analysis.quality
    if quality is None:
        return probability
    worst = max(quality.occlusion.model_dump().values())
    return round((1.0 - quality.blur) * (1.0 - worst), 4)
