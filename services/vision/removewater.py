"""Removing the wavy mesh ("网纹") printed over ID-card photos (CloudWalk /face/tool/removeWater).

The mesh is a pattern of thin wavy lines, lighter (usually) or darker than the photo under it,
covering the whole image. Thin bright lines are what a morphological top-hat keeps (the image
minus its opening with a disc wider than a line), thin dark lines what a black-hat keeps. The
polarity whose response covers more of the image is the mesh (a face's own thin dark details,
lashes and brow hairs, cover little of it). Pixels whose response stands THRESHOLD_SIGMAS robust
deviations above the image's median response form the mask, which is filled by inpainting
(Telea) from the photo around it. On five portraits framed as ID photos under a synthetic mesh
(bench/removewater.py) PSNR against the clean photo rose by 9.5-13.4 dB. Growing the mask by a
pixel first, or a 7 px disc, did worse in a one-off trial while these were chosen.
Thin strokes of the photo itself that match the mesh's polarity and width are filled too, which
softens the finest detail (hair, lashes).
"""

from __future__ import annotations

import cv2
import numpy as np

KERNEL = 5  # px: wider than a mesh line (1-3 px at ID-photo scale), narrower than a feature
THRESHOLD_SIGMAS = 3.0


def mesh_mask(rgb: np.ndarray) -> np.ndarray:
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (KERNEL, KERNEL))
    best = None
    for op in (cv2.MORPH_TOPHAT, cv2.MORPH_BLACKHAT):
        response = cv2.morphologyEx(grey, op, kernel).astype(np.float32)
        median = float(np.median(response))
        spread = 1.4826 * float(np.median(np.abs(response - median))) + 1.0
        mask = response > median + THRESHOLD_SIGMAS * spread
        if best is None or mask.mean() > best.mean():
            best = mask
    return best.astype(np.uint8)


def remove_mesh(rgb: np.ndarray) -> np.ndarray:
    return cv2.inpaint(np.ascontiguousarray(rgb), mesh_mask(rgb), 3, cv2.INPAINT_TELEA)
