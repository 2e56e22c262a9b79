-- Credentials per app (issue 5). The secret is never stored: only a salted SHA-256 of it. Our
-- secrets are 256 random bits (secrets.token_urlsafe(32)), so a fast hash is as safe as a slow
-- one (no dictionary to try) and verifying costs microseconds per request.
ALTER TABLE apps ADD COLUMN api_key text UNIQUE;
ALTER TABLE apps ADD COLUMN secret_salt bytea;
ALTER TABLE apps ADD COLUMN secret_hash bytea;
ALTER TABLE apps ADD COLUMN qps integer;            -- this app's own rate limit; NULL: default
ALTER TABLE apps ADD COLUMN revoked_at timestamptz;

-- Keys the gateways share, e.g. the one that signs OAuth access tokens.
CREATE TABLE server_keys (
    name        text PRIMARY KEY,
    value       bytea NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- person/verify: identity photos an operator loads, per app, keyed by ID number.
CREATE TABLE identities (
    id              bigserial PRIMARY KEY,
    app_id          bigint NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    id_card_number  text NOT NULL,
    name            text NOT NULL,
    model           smallint NOT NULL,
    embedding       vector(512) NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (app_id, id_card_number)
);
ALTER TABLE identities ALTER COLUMN embedding SET STORAGE PLAIN;

-- Baidu: a user's faces in a group, and faces by image within a user (216616 image existed).
CREATE INDEX faces_group_user ON faces (group_id, user_id) WHERE user_id IS NOT NULL;
