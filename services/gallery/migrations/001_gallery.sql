-- Apps (tenants) own groups; a group holds faces of one embedding model; Baidu-style users
-- belong to several groups and own faces (a face row is per group, so a search reads one group).
CREATE EXTENSION IF NOT EXISTS vector;

CREATE TABLE apps (
    id          bigserial PRIMARY KEY,
    name        text NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now()
);
INSERT INTO apps (name) VALUES ('default');

CREATE TABLE groups (
    id          bigserial PRIMARY KEY,
    app_id      bigint NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    name        text NOT NULL,
    tag         text NOT NULL DEFAULT '',
    model       smallint NOT NULL,          -- shared.models code; a group never mixes models
    face_count  bigint NOT NULL DEFAULT 0,  -- kept by the repository in the same transaction
    indexed     boolean NOT NULL DEFAULT false,  -- has its own partial HNSW index
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (app_id, name)
);

CREATE TABLE users (
    id          bigserial PRIMARY KEY,
    app_id      bigint NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    uid         text NOT NULL,
    user_info   text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (app_id, uid)
);

CREATE TABLE group_users (
    group_id    bigint NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    user_id     bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, user_id)
);

CREATE TABLE faces (
    id            bigserial PRIMARY KEY,
    app_id        bigint NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    group_id      bigint NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    user_id       bigint REFERENCES users (id) ON DELETE CASCADE,
    model         smallint NOT NULL,
    embedding     vector(512) NOT NULL,
    box           integer[] NOT NULL DEFAULT '{}',
    quality       real,
    tag           text NOT NULL DEFAULT '',
    image_sha256  bytea,
    request_key   text,                      -- client idempotency key (bulk enrolment)
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX faces_group_id ON faces (group_id, id);
CREATE INDEX faces_user_id ON faces (user_id) WHERE user_id IS NOT NULL;
CREATE UNIQUE INDEX faces_request_key ON faces (group_id, request_key)
    WHERE request_key IS NOT NULL;
