-- Re-embedding (issue 40): each enrolled face's region, a JPEG of the square twice the face's
-- size around it, upright, at most 256 px a side (services/vision/align.py face_region), from
-- which the face is detected, aligned and embedded again when its group changes model. NULL
-- for faces enrolled before this migration: a re-embedding counts them as skipped.
ALTER TABLE faces ADD COLUMN IF NOT EXISTS region bytea;

-- A re-embedding of one group into another model, run by the workers in chunks of faces
-- (services/recognition/reembed.py). The group serves its old vectors until the last chunk is
-- done; the swap of every vector and of the group's model is then one transaction.
CREATE TABLE reembed_jobs (
    id           uuid PRIMARY KEY,
    app_id       bigint NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    group_id     bigint NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    from_model   smallint NOT NULL,             -- the group's model when the job was made
    model        smallint NOT NULL,             -- the model it moves to
    drop_faces   boolean NOT NULL DEFAULT false,  -- drop faces that cannot be re-embedded
    state        text NOT NULL DEFAULT 'queued',  -- queued, running, done, failed
    chunks       integer NOT NULL DEFAULT 0,
    total        integer NOT NULL DEFAULT 0,    -- the counts below are final once it ended
    done         integer NOT NULL DEFAULT 0,
    no_region    integer NOT NULL DEFAULT 0,
    no_face      integer NOT NULL DEFAULT 0,
    dropped      integer NOT NULL DEFAULT 0,
    error        jsonb,
    created_at   timestamptz NOT NULL DEFAULT now(),
    started_at   timestamptz,
    finished_at  timestamptz
);
-- one re-embedding of a group at a time
CREATE UNIQUE INDEX reembed_jobs_active ON reembed_jobs (group_id)
    WHERE state IN ('queued', 'running');

-- The new vectors, staged per face until the swap (then deleted). `seen` is the face's
-- updated_at when its region was read: a face edited since is embedded again before the swap.
CREATE TABLE reembed_faces (
    job_id     uuid NOT NULL REFERENCES reembed_jobs (id) ON DELETE CASCADE,
    face_id    bigint NOT NULL REFERENCES faces (id) ON DELETE CASCADE,
    chunk      integer NOT NULL,
    state      text NOT NULL DEFAULT 'pending',  -- pending, done, no_region, no_face
    embedding  vector(512),
    seen       timestamptz NOT NULL,
    PRIMARY KEY (job_id, face_id)
);
CREATE INDEX reembed_faces_chunk ON reembed_faces (job_id, chunk, state);
CREATE INDEX reembed_faces_face ON reembed_faces (face_id);  -- a deleted face leaves quickly
