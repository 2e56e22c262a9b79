"""How often code reads the worker's result, or its analysis, as a dict: string-constant
subscripts in load context and `.get("key")` calls whose key is one of the result's or the
analysis's field names, outside the vision package that builds them (a name such as `type` or
`error` also matches reads of other dicts: the listing says where each one is).

    .venv/bin/python -m bench.result_key_reads [--list] [ROOT ...]
"""

import ast
import collections
import pathlib
import sys

RESULT = {"images", "model", "width", "height", "rotation", "faces", "box", "prob", "points",
          "embedding", "crop", "thumbnail", "analysis", "error", "cleaned"}
ANALYSIS = {"landmarks", "age", "gender", "emotion", "expression", "glasses", "face_shape",
            "beauty", "quality", "pose", "liveness", "points68", "points4", "points72",
            "score", "threshold", "live", "value", "probability", "probabilities", "yaw",
            "pitch", "roll", "rotation_angle", "occlusion", "blur", "sharpness",
            "illumination", "completeness", "type", "left_eye", "right_eye", "nose",
            "mouth", "left_cheek", "right_cheek", "chin_contour", "eyes_covered"}
args = [a for a in sys.argv[1:] if a != "--list"]
roots = args or ["gateway", "services/recognition", "shared", "workers"]
counts = collections.Counter()
where = collections.defaultdict(list)
for root in roots:
    for path in pathlib.Path(root).rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            key = None
            if (isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load)
                    and isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, str)):
                key = node.slice.value
            elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                  and node.func.attr == "get" and node.args
                  and isinstance(node.args[0], ast.Constant)
                  and isinstance(node.args[0].value, str)):
                key = node.args[0].value
            if key is None:
                continue
            kind = "analysis" if key in ANALYSIS - RESULT else "result" if key in RESULT else None
            if kind:
                counts[kind] += 1
                where[kind].append(f"{path}:{node.lineno}:{key}")
for kind in ("result", "analysis"):
    print(f"{kind} key reads: {counts[kind]}")
    if "--list" in sys.argv:
        print("\n".join(f"  {place}" for place in where[kind]))
