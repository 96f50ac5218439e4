-- Partner apps' Open311 keys (stored as SHA-256 of a 256-bit random key: never the key)
-- and the tokens their POSTs were answered with (a token is the report's event_id).
CREATE TABLE api_keys (
    key_id     serial PRIMARY KEY,
    name       text        NOT NULL,
    key_hash   text        NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    revoked_at timestamptz
);

CREATE TABLE api_tokens (
    token      uuid PRIMARY KEY,
    key_id     integer     NOT NULL REFERENCES api_keys (key_id),
    created_at timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE INDEX cases_opened ON cases (opened_at);
