-- Persons (issue 40): a bulk item may name the group's person its face joins (users.uid,
-- checked when the job is submitted and again when the face is written).
ALTER TABLE ingest_items ADD COLUMN person text;
