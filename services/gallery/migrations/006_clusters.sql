-- Clustering (issue 28): who is in a group, with nobody labelled. A run clusters a snapshot of
-- the group's faces in a worker (services/recognition/people.py); faces enrolled later join
-- the latest finished run's clusters one by one. Only a group's latest finished run is kept.
CREATE TABLE cluster_runs (
    id            uuid PRIMARY KEY,
    app_id        bigint NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    group_id      bigint NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    score         real NOT NULL,               -- the calibrated score two faces' edge needs
    state         text NOT NULL DEFAULT 'queued',  -- queued, running, done, failed
    total         integer NOT NULL DEFAULT 0,  -- faces in the snapshot
    done          integer NOT NULL DEFAULT 0,  -- faces whose neighbours are found
    clusters      integer,                     -- when the run finished
    next_cluster  integer NOT NULL DEFAULT 0,  -- the id a new cluster gets
    error         jsonb,
    created_at    timestamptz NOT NULL DEFAULT now(),
    started_at    timestamptz,
    finished_at   timestamptz
);
CREATE INDEX cluster_runs_group ON cluster_runs (group_id, finished_at);

CREATE TABLE face_clusters (
    run_id   uuid NOT NULL REFERENCES cluster_runs (id) ON DELETE CASCADE,
    face_id  bigint NOT NULL REFERENCES faces (id) ON DELETE CASCADE,
    cluster  integer NOT NULL,
    PRIMARY KEY (run_id, face_id)
);
CREATE INDEX face_clusters_cluster ON face_clusters (run_id, cluster);
CREATE INDEX face_clusters_face ON face_clusters (face_id);  -- a deleted face leaves quickly

CREATE TABLE clusters (
    run_id          uuid NOT NULL REFERENCES cluster_runs (id) ON DELETE CASCADE,
    cluster         integer NOT NULL,
    representative  bigint REFERENCES faces (id) ON DELETE SET NULL,
    name            text,                      -- the tag it was named with
    PRIMARY KEY (run_id, cluster)
);
