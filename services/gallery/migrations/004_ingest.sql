-- Ingestion jobs (issue 14): a bulk load's items live here, not in broker messages. Workers
-- take chunks of item indexes [start, stop) from the facegate.bulk queue; each chunk's outcome
-- is written in one transaction with its faces, so a redelivered chunk changes nothing.
CREATE TABLE ingest_jobs (
    id           uuid PRIMARY KEY,
    app_id       bigint NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    group_name   text NOT NULL,
    total        integer NOT NULL,
    chunk_size   integer NOT NULL,
    next_start   integer NOT NULL DEFAULT 0,  -- first item no chunk task has been sent for
    state        text NOT NULL DEFAULT 'running',  -- running, done, cancelled, failed
    error        jsonb,                       -- why a job failed (its group was deleted)
    done         integer NOT NULL DEFAULT 0,
    enrolled     integer NOT NULL DEFAULT 0,
    created      integer NOT NULL DEFAULT 0,  -- enrolled items that made a new face
    no_face      integer NOT NULL DEFAULT 0,
    low_quality  integer NOT NULL DEFAULT 0,
    bad_image    integer NOT NULL DEFAULT 0,
    cancelled    integer NOT NULL DEFAULT 0,
    failed       integer NOT NULL DEFAULT 0,  -- the service failed on them (ENGINE); resubmit
    created_at   timestamptz NOT NULL DEFAULT now(),
    started_at   timestamptz,                 -- when the first chunk finished work
    finished_at  timestamptz
);
CREATE INDEX ingest_jobs_app_running ON ingest_jobs (app_id, created_at) WHERE state = 'running';
CREATE INDEX ingest_jobs_finished ON ingest_jobs (finished_at);

CREATE TABLE ingest_chunks (
    job_id   uuid NOT NULL REFERENCES ingest_jobs (id) ON DELETE CASCADE,
    start    integer NOT NULL,
    stop     integer NOT NULL,
    sent_at  timestamptz NOT NULL DEFAULT now(),
    done_at  timestamptz,
    worker   text,         -- which worker process finished it (host:pid)
    PRIMARY KEY (job_id, start)
);
CREATE INDEX ingest_chunks_in_flight ON ingest_chunks (job_id) WHERE done_at IS NULL;

CREATE TABLE ingest_items (
    job_id   uuid NOT NULL REFERENCES ingest_jobs (id) ON DELETE CASCADE,
    idx      integer NOT NULL,
    key      text NOT NULL,
    tag      text NOT NULL DEFAULT '',
    image    bytea,        -- an inline image, dropped once the item is done
    url      text,         -- or where a worker fetches it
    status   text,         -- NULL while pending, else one of services/gallery/ingest.py's OUTCOMES
    face_id  bigint,
    created  boolean,
    error    jsonb,        -- FaceError.to_dict() for low_quality, bad_image and failed
    PRIMARY KEY (job_id, idx)
);
