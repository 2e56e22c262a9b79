"""The /v1 operations are one table (gateway/dialects/native/operations.py OPERATIONS): the
routes, POST /v1/jobs's `op`, the parameters, answers and summaries the document shows, and the
vision operation each runs are read from it, and each name is written there once."""

import ast
import inspect
from typing import get_args

from gateway.dialects.native import operations
from gateway.dialects.native.operations import OPERATIONS, JobParams
from services.recognition import vision


def test_every_job_operation_has_one_entry():
    assert set(OPERATIONS) == set(vision.JOB_OPERATIONS)
    for name, op in OPERATIONS.items():
        assert op.name == name and op.vision_op is vision.JOB_OPERATIONS[name]


def test_jobs_take_the_table_s_names():
    assert get_args(JobParams.model_fields["op"].annotation) == tuple(OPERATIONS)
    assert ", ".join(OPERATIONS) in inspect.getdoc(operations.create_job.handler)


def test_routes_come_from_the_table():
    routes = {path: declared for path, declared, method in operations.ROUTES
              if method == "POST"}
    for op in OPERATIONS.values():
        declared = routes[op.path]
        assert declared.params is op.params
        assert set(get_args(declared.answer)) >= {op.answer}
        assert inspect.getdoc(declared.handler).startswith(op.summary)
    assert routes["/compare/many"] is not routes["/compare"]


def test_each_name_is_written_once():
    tree = ast.parse(inspect.getsource(operations))
    strings = [node.value for node in ast.walk(tree)
               if isinstance(node, ast.Constant) and isinstance(node.value, str)]
    for name in OPERATIONS:
        assert strings.count(name) == 1, name


def test_options_are_the_entry_s_own():
    class Params:
        crops, features, fields, max_faces = True, False, ("age",), 2

    assert OPERATIONS["detect"].options(Params) == {"crops": True, "features": False}
    assert OPERATIONS["analyse"].options(Params) == {"fields": ("age",), "max_faces": 2}
    assert OPERATIONS["compare"].options(Params) == {}
