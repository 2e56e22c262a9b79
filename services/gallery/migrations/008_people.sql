-- Persons (issue 40): a bulk item may name the group's person its face joins (users.uid,
-- checked when the job is submitted and again when the face is written).
ALTER TABLE ingest_items ADD COLUMN person text;
-- "Not this person" (a correction): the face must never be the person's again, kept across
-- re-clustering and respected when faces join a clustering; cleared by moving the face to
-- that person on purpose.
CREATE TABLE face_not_person (
    face_id     bigint NOT NULL REFERENCES faces (id) ON DELETE CASCADE,
    user_id     bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (face_id, user_id)
);
CREATE INDEX face_not_person_user ON face_not_person (user_id);
