"""The enrolment quality gate: refuse a face an identification gallery should not hold.

Default thresholds are Baidu's recommended ones for registering faces (seed 002, 质量判断):
occlusion left/right eye 0.6, nose 0.7, mouth 0.7, cheeks 0.8, chin 0.6; blur < 0.7;
illumination > 40; yaw, pitch and roll each within 20 degrees; face at least 80 x 80 px (the low
end of the 80-200 px Baidu recommends; its "not under 100 px" refused 89 px portrait faces); the
face inside the image. We add an upper illumination bound (8480, too bright). Roll is measured
in the view the face was found in, so a photo taken sideways (which the pipeline turns upright
before it embeds) is not refused for it. Each refusal names what failed, in CloudWalk's codes:
8466 too small, 8480 too bright, 8481 too dark, 8482 blurred, 8496 occluded, turned or cut off.
Every threshold is a setting (FACEGATE_GATE_*); FACEGATE_QUALITY_GATE=false turns it off.
"""

from __future__ import annotations

from shared.errors import ERRORS, FaceError
from shared.settings import Settings

GATE_FIELDS = ("quality", "pose")


def occlusion_limits(settings: Settings) -> dict[str, float]:
    limits = {}
    for item in settings.gate_occlusion:
        region, _, value = item.partition("=")
        limits[region.strip()] = float(value)
    return limits


def check(box: tuple[int, ...] | list[int], analysis: dict, rotation: int,
          settings: Settings) -> None:
    """`analysis` holds a face's GATE_FIELDS; raises FaceError naming the first failure."""
    if not settings.quality_gate:
        return
    _, _, w, h = box
    if min(w, h) < settings.gate_min_face:
        raise FaceError(ERRORS.FACE_TOO_SMALL,
                        f"face is {w}x{h} px, at least {settings.gate_min_face} px needed")
    quality, pose = analysis.get("quality"), analysis.get("pose")
    if quality is None or pose is None:
        raise FaceError(ERRORS.ENGINE, "quality gate needs the quality and pose fields")
    light = quality["illumination"]
    if light < settings.gate_min_illumination:
        raise FaceError(ERRORS.FACE_TOO_DARK,
                        f"illumination {light} < {settings.gate_min_illumination}")
    if light > settings.gate_max_illumination:
        raise FaceError(ERRORS.FACE_TOO_BRIGHT,
                        f"illumination {light} > {settings.gate_max_illumination}")
    if quality["blur"] > settings.gate_max_blur:
        raise FaceError(ERRORS.FACE_BLURRED,
                        f"blur {quality['blur']:.2f} > {settings.gate_max_blur}")
    for region, limit in occlusion_limits(settings).items():
        value = quality["occlusion"].get(region, 0.0)
        if value > limit:
            raise FaceError(ERRORS.IMAGE_QUALITY,
                            f"{region} occluded ({value:.2f} > {limit})")
    roll = (pose["roll"] - rotation + 180.0) % 360.0 - 180.0
    for name, value in (("yaw", pose["yaw"]), ("pitch", pose["pitch"]), ("roll", roll)):
        if abs(value) > settings.gate_max_angle:
            raise FaceError(ERRORS.IMAGE_QUALITY,
                            f"{name} {value:.0f} degrees, at most {settings.gate_max_angle}")
    if settings.gate_completeness and quality["completeness"] != 1:
        raise FaceError(ERRORS.IMAGE_QUALITY, "face is cut off by the image border")


def quality_score(analysis: dict, probability: float) -> float:
    """The one number stored with an enrolled face: sharpness times unoccluded share, 0-1;
    the detector's probability when no quality was measured (gate off)."""
    quality = analysis.get("quality")
    if not quality:
        return probability
    worst = max(quality["occlusion"].values(), default=0.0)
    return round((1.0 - quality["blur"]) * (1.0 - worst), 4)
