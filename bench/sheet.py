"""Contact sheets: equal-sized image tiles laid out in rows, saved as one JPEG to look at by
eye (bench/gate.py's refused photos, bench/subject.py's changed choices)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def save_sheet(tiles: list[np.ndarray], columns: int, path: Path) -> None:
    """`tiles` (H x W x 3, all the same size), `columns` to a row, the last row padded white."""
    blank = np.full_like(tiles[0], 255)
    rows = [np.hstack(tiles[i:i + columns] + [blank] * (columns - len(tiles[i:i + columns])))
            for i in range(0, len(tiles), columns)]
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.vstack(rows)).save(path, "JPEG", quality=90)
