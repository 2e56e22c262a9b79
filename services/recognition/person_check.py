"""1:1 against a registered identity (Baidu's person/verify): the photo's largest face against
the identity photo an operator registered for an ID number (POST /v1/identities), the name
checked, and the face judged first when the caller asks: by the enrolment gate's quality checks
under the caller's own thresholds, and by liveness under the caller's threshold.

No police database here: the identity photo stands in for it. Baidu's person/verify judges only
occlusion, blur and illumination, never size or pose, so those checks stay off.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from services.recognition import catalogue, vision
from services.recognition.context import Recognition
from services.recognition.scoring import stored_score
from shared import quality_gate
from shared.errors import ERRORS, FaceError
from shared.quality_gate import GateLimits
from shared.results import OCCLUSION_REGIONS, FaceAnalysis
from shared.settings import Settings

_ILLUMINATION_TOP = 255.0


def quality_limits(settings: Settings, overrides: Mapping[str, object]) -> GateLimits:
    """The gate's occlusion, blur and illumination limits with a caller's thresholds in place
    (a number per region of OCCLUSION_REGIONS, `blur`, `illumination`); PARAM_INVALID naming
    the first that is not one."""
    base = quality_gate.limits(settings)
    occlusion, blur, light = dict(base.occlusion), base.max_blur, base.min_illumination
    for key, value in overrides.items():
        high = _ILLUMINATION_TOP if key == "illumination" else 1.0
        if isinstance(value, bool) or not isinstance(value, int | float) or \
                not 0.0 <= value <= high:
            raise FaceError(ERRORS.PARAM_INVALID,
                            f"quality_conf: {key} must be a number from 0 to {high:g}")
        if key == "blur":
            blur = float(value)
        elif key == "illumination":
            light = float(value)
        elif key in OCCLUSION_REGIONS:
            occlusion[key] = float(value)
        else:
            raise FaceError(ERRORS.PARAM_INVALID, f"quality_conf: unknown field {key} (blur, "
                            f"illumination, {', '.join(OCCLUSION_REGIONS)})")
    return GateLimits(min_illumination=light, max_blur=blur, occlusion=occlusion)


def liveness_threshold(settings: Settings, asked: object) -> float:
    """The caller's liveness threshold (None: the service's, FACEGATE_LIVENESS_THRESHOLD)."""
    if asked is None:
        return settings.liveness_threshold
    if isinstance(asked, bool) or not isinstance(asked, int | float) or not 0.0 <= asked <= 1.0:
        raise FaceError(ERRORS.PARAM_INVALID,
                        "faceliveness_conf: faceliveness must be a number from 0 to 1")
    return float(asked)


def require_live(analysis: FaceAnalysis, threshold: float) -> None:
    """LIVENESS_FAILED when the face's liveness score is under the threshold."""
    score = analysis.liveness.score
    if score < threshold:
        raise FaceError(ERRORS.LIVENESS_FAILED, f"faceliveness {score} < {threshold}")


@dataclass(frozen=True)
class PersonCheck:
    """What the caller asks of the face besides the score."""

    judge_quality: bool = False  # by the gate's limits with `quality_conf` in place
    quality_conf: Mapping[str, object] = field(default_factory=dict)
    judge_liveness: bool = False  # at `liveness_conf` (None: the service's threshold)
    liveness_conf: object = None
    measure_quality: bool = False  # report the quality readings
    measure_liveness: bool = False  # report the liveness score


@dataclass(frozen=True)
class PersonVerified:
    score: float  # the core's [0, 1] similarity to the identity photo
    analysis: FaceAnalysis  # the fields measured (quality, liveness) as asked


async def verify_person(ctx: Recognition, app: int, id_card_number: str, name: str,
                        image: bytes, check: PersonCheck) -> PersonVerified:
    """The registry's answers first (an unknown number, a wrong name), then the caller's
    thresholds, then the model: nothing runs for a request refused by a cheaper check."""
    identity = await catalogue.identity(ctx, app, id_card_number)
    if identity.name != name:
        raise FaceError(ERRORS.PARAM_INVALID, "name does not match the id_card_number")
    limits = quality_limits(ctx.settings, check.quality_conf) if check.judge_quality else None
    threshold = (liveness_threshold(ctx.settings, check.liveness_conf)
                 if check.judge_liveness else None)
    fields = []
    if check.judge_quality or check.measure_quality:
        fields.append("quality")
    if check.judge_liveness or check.measure_liveness:
        fields.append("liveness")
    model, [feature] = await vision.run(ctx.queue, vision.EMBED_EACH_IMAGE, [image],
                                        {"fields": fields})
    if feature.error is not None:
        raise feature.error
    analysis = feature.face.analysis
    if limits is not None:
        quality_gate.enforce(feature.face.box, analysis, 0, limits)
    if threshold is not None:
        require_live(analysis, threshold)
    score = stored_score(model, identity.model, identity.vector, feature.face.embedding,
                         "the identity photo")
    return PersonVerified(score, analysis)
