"""Run the analysis heads a request asks for over many faces at once.

Every head starts from the 68 landmarks (2-3 ms a face with dlib) and the landmark chip; the
networks (age, gender, expression, liveness) then run once over the faces of every job in the
call, which is what lets the worker batch them across requests.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from services.vision.analysis import appearance, geometry, pose, quality
from services.vision.analysis.age_gender import AgeGender
from services.vision.analysis.crops import upright_crop
from services.vision.analysis.expression import EMOTIONS, emotion_input, expression
from services.vision.analysis.eye_probe import PROBE_FIELD, EyeProbe, eye_centres
from services.vision.analysis.landmarks import (
    Landmarker,
    baidu_landmark4,
    baidu_landmark72,
    chip_transform,
    chip_valid,
    to_chip,
    warp_chip,
)
from services.vision.analysis.liveness import liveness_input
from services.vision.packages import package_file
from services.vision.tfjs import GraphModel
from shared.results import ANALYSIS_FIELDS, FaceAnalysis, FaceResult

HUMAN_MODELS = "human-models"


@dataclass
class AnalysisJob:
    image: np.ndarray
    faces: list[FaceResult]  # read: box (x, y, w, h) and points (5)
    fields: frozenset[str]


@dataclass
class _Face:
    """One face on its way through the heads."""

    image: np.ndarray
    face: FaceResult
    out: dict  # the face's answer, filled in by the heads (FaceAnalysis's fields)
    fields: frozenset[str]
    chip: np.ndarray
    matrix: np.ndarray
    p68: np.ndarray
    eyes_covered: np.ndarray | None = None  # the eye probe's (left, right), when asked


def _points(points: np.ndarray, digits: int = 1) -> list[list[float]]:
    return [[round(float(x), digits), round(float(y), digits)] for x, y in points]


class Analyser:
    def __init__(self, model_dir: Path, device: torch.device, threads: int,
                 liveness_threshold: float) -> None:
        self.landmarker = Landmarker(package_file(
            "face_recognition_models", "models/shape_predictor_68_face_landmarks.dat"))
        providers = (["CUDAExecutionProvider", "CPUExecutionProvider"]
                     if device.type == "cuda" else ["CPUExecutionProvider"])
        self.age_gender = AgeGender(threads, providers)
        human = model_dir / HUMAN_MODELS
        self.emotion_net = GraphModel(human / "emotion.json", device)
        self.liveness_net = GraphModel(human / "liveness.json", device)
        self.liveness_threshold = liveness_threshold
        self.eye_probe = EyeProbe(model_dir, device)

    def __call__(self, jobs: list[AnalysisJob]) -> list[list[FaceAnalysis]]:
        results: list[list[dict]] = []
        faces: list[_Face] = []  # every face asked for anything, landmarked
        for job in jobs:
            fields = job.fields & {*ANALYSIS_FIELDS, PROBE_FIELD}
            results.append([{} for _ in job.faces])
            if fields:
                faces += [self._landmark(job, face, out, fields)
                          for face, out in zip(job.faces, results[-1], strict=True)]
        self._probe_eyes([f for f in faces if f.fields & {"quality", PROBE_FIELD}])
        age_chips, gender_chips, emotion_inputs, live_inputs = [], [], [], []
        age_of, gender_of, emotion_of, live_of = [], [], [], []
        for f in faces:
            if PROBE_FIELD in f.fields:
                f.out[PROBE_FIELD] = [round(float(v), 4) for v in f.eyes_covered]
            height, width = f.image.shape[:2]
            self._geometry(f.chip, f.matrix, f.face, f.p68, f.fields, width, height, f.out,
                           f.eyes_covered)
            if "age" in f.fields:
                age_chips.append(self.age_gender.chip(f.image, f.p68, 64))
                age_of.append(f.out)
            if "gender" in f.fields:
                gender_chips.append(self.age_gender.chip(f.image, f.p68, 32))
                gender_of.append(f.out)
            if f.fields & {"emotion", "expression", "liveness"}:
                crop = upright_crop(f.image, f.face.box, np.asarray(f.face.points, np.float64))
                if f.fields & {"emotion", "expression"}:
                    emotion_inputs.append(emotion_input(crop))
                    emotion_of.append((f.out, f.p68, f.fields))
                if "liveness" in f.fields:
                    live_inputs.append(liveness_input(crop))
                    live_of.append(f.out)
        self._networks(age_chips, age_of, gender_chips, gender_of, emotion_inputs, emotion_of,
                       live_inputs, live_of)
        return [[FaceAnalysis(**out) for out in outs] for outs in results]

    def _landmark(self, job: AnalysisJob, face: FaceResult, out: dict, fields: frozenset[str]
                  ) -> _Face:
        matrix = chip_transform(np.asarray(face.points, np.float64))
        chip = warp_chip(job.image, matrix)  # one chip: landmarks, quality, glasses, eye probe
        return _Face(job.image, face, out, fields, chip, matrix,
                     self.landmarker.on_chip(chip, matrix))

    def _probe_eyes(self, faces: list[_Face]) -> None:
        """The eye probe, once over every face whose quality (or the probe) is asked."""
        if not faces:
            return
        centres = np.array([eye_centres(to_chip(f.p68, f.matrix)) for f in faces])
        for f, covered in zip(faces, self.eye_probe([f.chip for f in faces], centres),
                              strict=True):
            f.eyes_covered = covered

    def _geometry(self, chip, matrix, face, p68, fields, width, height, out,
                  eyes_covered) -> None:
        if "landmarks" in fields:
            out["landmarks"] = {"points68": _points(p68), "points4": _points(baidu_landmark4(p68)),
                                "points72": _points(baidu_landmark72(p68))}
        if "pose" in fields:
            out["pose"] = pose.head_pose(p68, np.asarray(face.points, np.float64), face.box)
        if "face_shape" in fields:
            out["face_shape"] = geometry.face_shape(p68)
        if "beauty" in fields:
            out["beauty"] = geometry.beauty(p68)
        if not fields & {"quality", "glasses"}:
            return
        pc = to_chip(p68, matrix)
        ycrcb = cv2.cvtColor(chip, cv2.COLOR_RGB2YCrCb)
        grey = ycrcb[..., 0]
        valid = chip_valid(matrix, width, height)
        # the Laplacian of the warp's black fill would read as sharpness: keep off its edge
        inside = quality.face_mask(pc) & cv2.erode(valid.astype(np.uint8), None, iterations=2
                                                   ).astype(bool)
        if "quality" in fields:
            blur, sharpness = quality.blur(grey, inside)
            out["quality"] = {
                "occlusion": quality.occlusion(ycrcb, pc, valid, eyes_covered), "blur": blur,
                "sharpness": sharpness, "illumination": quality.illumination(ycrcb, inside),
                "completeness": quality.completeness(p68, width, height),
                "type": appearance.face_type(grey, inside)}
        if "glasses" in fields:
            kind, probability = appearance.glasses(grey, pc, inside)
            out["glasses"] = {"value": kind, "probability": probability}

    def _networks(self, age_chips, age_of, gender_chips, gender_of, emotion_inputs, emotion_of,
                  live_inputs, live_of) -> None:
        if age_chips:
            for out, age in zip(age_of, self.age_gender.ages(age_chips), strict=True):
                out["age"] = round(float(age), 1)
        if gender_chips:
            for out, male in zip(gender_of, self.age_gender.male_probability(gender_chips),
                                 strict=True):
                male = float(male)
                out["gender"] = ({"value": "male", "probability": round(male, 4)} if male >= 0.5
                                 else {"value": "female", "probability": round(1 - male, 4)})
        if emotion_inputs:
            probabilities = self.emotion_net(np.stack(emotion_inputs))
            for (out, p68, fields), probs in zip(emotion_of, probabilities, strict=True):
                if "emotion" in fields:
                    best = int(np.argmax(probs))
                    out["emotion"] = {"value": EMOTIONS[best], "probabilities": {
                        name: round(float(v), 4) for name, v in zip(EMOTIONS, probs, strict=True)}}
                if "expression" in fields:
                    value, probability = expression(probs, p68)
                    out["expression"] = {"value": value, "probability": round(probability, 4)}
        if live_inputs:
            scores = self.liveness_net(np.stack(live_inputs))[:, 0]
            for out, score in zip(live_of, scores, strict=True):
                out["liveness"] = {"score": round(float(score), 4),
                                   "threshold": self.liveness_threshold,
                                   "live": bool(score >= self.liveness_threshold)}
