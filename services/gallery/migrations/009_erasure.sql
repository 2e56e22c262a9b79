-- Erasure (issue 40): what deleting a face erases besides its row (services/gallery/erasure.py).
-- An enrolled ingestion item whose face is deleted keeps its place and outcome in its job but
-- loses its key, tag, URL and face id: its key may now be NULL.
ALTER TABLE ingest_items ALTER COLUMN key DROP NOT NULL;
-- A deleted face's items are found by its id, not by reading every item of every job.
CREATE INDEX ingest_items_face ON ingest_items (face_id) WHERE face_id IS NOT NULL;
-- A deleted face's clusters.representative is set NULL by its foreign key: this index finds
-- them (without it each face deletion read the whole clusters table), and finds the rows left
-- NULL, which erasure.py gives another representative or deletes.
CREATE INDEX clusters_representative ON clusters (representative);
