"""The vocabulary a vision request is written in, whatever the dialect: which faces to take,
and which analysis fields to ask for. The request's models are shared/tasks.py; the result's
are shared/results.py."""

from __future__ import annotations

from shared.results import ANALYSIS_FIELDS

ALL = "all"
LARGEST = "largest"

__all__ = ["ALL", "ANALYSIS_FIELDS", "LARGEST"]
