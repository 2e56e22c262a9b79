"""LFW View 1 accuracy measured through the HTTP API.

Each image's central region goes to POST /face/tool/feature; pair scores are the features'
similarity exactly as /face/tool/similarityByFeature computes it. Prints, per embedder,
accuracy at the recommended score 0.80 and with the threshold chosen by 10-fold
cross-validation.

    .venv/bin/python -m bench.lfw_api                      # both embedders, private stacks
    .venv/bin/python -m bench.lfw_api --url http://host:8080 --embedders facenet
"""

from __future__ import annotations

import argparse
import base64
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from bench.lfw import DEFAULT_ROOT, embed_all, print_report, read_pairs, report
from bench.stack import bench_stack, client_for
from shared.features import from_base64
from shared.models import MODELS, RECOMMENDED_SCORE


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", help="an existing facegate; default: start one per embedder")
    parser.add_argument("--embedders", default="facenet,arcface")
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT)
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()
    train = read_pairs(args.root, "pairsDevTrain.txt")
    test = read_pairs(args.root, "pairsDevTest.txt")
    for name in args.embedders.split(","):
        with bench_stack(args.url, FACEGATE_EMBEDDER=name) as (base_url, _), \
                client_for(base_url, timeout=300) as client, \
                ThreadPoolExecutor(args.clients) as pool:

            def feature(jpeg: bytes) -> np.ndarray | None:
                body = client.cloudwalk("/face/tool/feature",
                                        img=base64.b64encode(jpeg).decode())
                if body["result"] == 8464:
                    return None
                if body["result"] != 0:
                    raise RuntimeError(body)
                return from_base64(body["feature"]).vector

            started = time.perf_counter()
            vectors = embed_all(args.root, train + test,
                                lambda jpegs: list(pool.map(feature, jpegs)),
                                batch=args.clients * 4)
            elapsed = time.perf_counter() - started
            out = report(f"{name} through the HTTP API", train, test, vectors,
                         MODELS[name].score, RECOMMENDED_SCORE)
            out["images_per_s"] = len(vectors) / elapsed
            print_report(out)


if __name__ == "__main__":
    main()
