"""Which faces of an image a vision request takes, whatever the dialect. The request's models
are shared/tasks.py; the result's, and the analysis fields one may ask for
(ANALYSIS_FIELDS), shared/results.py."""

from __future__ import annotations

ALL = "all"
LARGEST = "largest"
