"""What a big phone photo costs the worker's decode: time and peak memory of the working copy
(shared/images.decode) for 12, 48 and 100 megapixel photos saved as JPEG, HEIC and PNG, each
decoded in a fresh process so one's peak does not hide another's.

    .venv/bin/python -m bench.big_photos

Prints one line per photo: format, size, bytes, working copy, seconds, peak RSS growth (MB);
for a photo larger than its copy, also the decode of its own pixels that a face too small in
the copy triggers (services/vision/pipeline.Detail), and the peak with both held.
HEIC only at 12 MP: see main().
"""

from __future__ import annotations

import io
import subprocess
import sys
import time

import numpy as np
from PIL import Image
from pillow_heif import register_heif_opener

register_heif_opener()  # so this script can save HEIC, as shared/images.py reads it

SIZES = {"12 MP": (4000, 3000), "48 MP": (8000, 6000), "100 MP": (11547, 8660)}
FORMATS = ("JPEG", "HEIF", "PNG")


def photo(size: tuple[int, int], fmt: str) -> bytes:
    """A photo-like picture: smooth gradients and noise (compresses like a photo, not a flat
    card)."""
    width, height = size
    rng = np.random.default_rng(0)
    small = rng.integers(0, 255, (height // 64 + 1, width // 64 + 1, 3), dtype=np.uint8)
    image = Image.fromarray(small).resize(size, Image.BICUBIC)
    noise = rng.normal(0, 6, (height, width, 1)).astype(np.int16)
    pixels = np.clip(np.asarray(image, np.int16) + noise, 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, fmt, **({"quality": 90} if fmt != "PNG" else {}))
    return buffer.getvalue()


def _status_mb(field: str) -> float:
    from pathlib import Path

    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise KeyError(field)


def measure(path: str) -> None:
    """In a child process: decode once, print seconds, peak RSS growth in MB, copy size. The
    peak is Linux's VmHWM, reset first (a child starts with its parent's peak)."""
    from pathlib import Path

    from shared.images import decode, full_resolution, pixel_limit

    data = Path(path).read_bytes()
    Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS
    before = _status_mb("VmRSS")
    started = time.perf_counter()
    decoded = decode(data, pixel_limit(400_000_000))
    seconds = time.perf_counter() - started
    peak = _status_mb("VmHWM") - before
    height, width = decoded.rgb.shape[:2]
    # a reduced photo with a small face: its own pixels decoded too, while the copy is held
    started = time.perf_counter()
    own = full_resolution(data, pixel_limit(400_000_000)) if decoded.scale > 1 else None
    own_s = time.perf_counter() - started
    own_peak = _status_mb("VmHWM") - before
    del own
    print(f"{seconds:.2f} {peak:.0f} {width}x{height} {own_s:.2f} {own_peak:.0f}")


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--measure":
        measure(sys.argv[2])
        return
    import tempfile

    print(f"{'photo':<8} {'format':<6} {'MB':>6} {'working copy':>13} {'s':>6} {'peak MB':>8}"
          f"   own pixels too (a small face): {'s':>6} {'peak MB':>8}")
    for label, size in SIZES.items():
        for fmt in FORMATS:
            if fmt == "HEIF" and size[0] * size[1] > 12_000_000:
                # Phones store big HEIC photos as grids of 512 px tiles; pillow-heif writes one
                # HEVC frame, which past about 12 MP no decoder takes (HEVC's level limits).
                print(f"{label:<8} {fmt:<6}  (not made: see the comment in bench/big_photos.py)")
                continue
            data = photo(size, fmt)
            with tempfile.NamedTemporaryFile(suffix="." + fmt.lower()) as file:
                file.write(data)
                file.flush()
                out = subprocess.run([sys.executable, "-m", "bench.big_photos", "--measure",
                                      file.name], capture_output=True, text=True, check=True)
            seconds, peak, copy, own_s, own_peak = out.stdout.split()
            own = (f"{float(own_s):6.2f} {float(own_peak):8.0f}" if copy != f"{size[0]}x{size[1]}"
                   else "(not reduced)")
            print(f"{label:<8} {fmt:<6} {len(data) / 2**20:6.1f} {copy:>13} {float(seconds):6.2f}"
                  f" {float(peak):8.0f}   {own:>39}")


if __name__ == "__main__":
    main()
