"""Serve a folder of wheels as a package index (PEP 503 "simple" layout), for a build that
cannot reach the index it would use: e.g. the CPU worker image on a machine that reaches PyPI
but not PyTorch's CPU index.

    pip download torch==2.13.0 -d /tmp/cpu-wheels        # where a CPU wheel can be had
    python -m bench.wheel_index /tmp/cpu-wheels --bind 172.17.0.1 --port 8765 &
    TORCH_INDEX_URL=http://172.17.0.1:8765/simple docker compose build worker

(172.17.0.1: Docker's default bridge, which build containers reach.) docs/operations.md's CPU
image size was measured this way.
"""

from __future__ import annotations

import argparse
import functools
import re
import shutil
import tempfile
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


def project(wheel: str) -> str:
    """A wheel file's project name, normalised as PEP 503 wants it."""
    return re.sub(r"[-_.]+", "-", wheel.split("-", 1)[0]).lower()


def lay_out(wheels: Path, root: Path) -> Path:
    """root/simple/<project>/<wheel> for every wheel: a directory listing is an index page."""
    for wheel in wheels.glob("*.whl"):
        folder = root / "simple" / project(wheel.name)
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy2(wheel, folder / wheel.name)
    return root


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("wheels", type=Path)
    parser.add_argument("--bind", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = lay_out(args.wheels, Path(tmp))
        handler = functools.partial(SimpleHTTPRequestHandler, directory=str(root))
        server = ThreadingHTTPServer((args.bind, args.port), handler)
        print(f"serving {args.wheels} at http://{args.bind}:{args.port}/simple", flush=True)
        server.serve_forever()


if __name__ == "__main__":
    main()
