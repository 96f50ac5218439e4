-- Operations-console accounts (the password as an argon2id hash) and the audit of every view
-- of personal data and every action taken through the console.
CREATE TABLE console_operators (
    operator_id   text PRIMARY KEY,           -- also the actor_id on civic.actors.v1
    role          text        NOT NULL,       -- city / district / street / community /
                                              -- grid_worker / department
    scope         text        NOT NULL,       -- the rung's name, a grid worker's id, a department
    password_hash text        NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE TABLE console_audit (
    id          bigserial PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT clock_timestamp(),
    operator_id text        NOT NULL,
    what        text        NOT NULL,         -- view_case / action / export
    case_id     text,
    detail      text
);
CREATE INDEX console_audit_operator ON console_audit (operator_id, at);
