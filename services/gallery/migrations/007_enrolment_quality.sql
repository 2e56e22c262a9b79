-- Enrolment quality levels (issue 40): a group's default level for the faces enrolled into it,
-- and the level an ingestion job was submitted at (fixed for the whole load). NULL on a group:
-- the service's setting (FACEGATE_QUALITY_GATE); NULL on a job stored before this migration:
-- the worker's setting, as such jobs had.
ALTER TABLE groups ADD COLUMN quality text
    CHECK (quality IN ('strict', 'lenient', 'none'));
ALTER TABLE ingest_jobs ADD COLUMN quality text
    CHECK (quality IN ('strict', 'lenient', 'none'));
