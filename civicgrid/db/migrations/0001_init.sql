-- Every inbound offset ends in exactly one of events, duplicate_deliveries, dead_letters.
CREATE TABLE events (
    event_id      uuid PRIMARY KEY,
    kind          text        NOT NULL,   -- scan / report / patrol / case_update
    topic         text        NOT NULL,
    partition     integer     NOT NULL,
    "offset"      bigint      NOT NULL,
    grid_id       text        NOT NULL,
    code          text,
    unknown_code  boolean     NOT NULL DEFAULT false,
    actor_hash    text,                   -- keyed hash of reporter / scanner / worker / actor
    category      text,
    severity      text,
    case_id       text,
    occurred_at   timestamptz NOT NULL,
    published_at  timestamptz,
    processed_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    payload       jsonb       NOT NULL    -- the event with personal data masked / hashed
);
CREATE UNIQUE INDEX events_offset ON events (topic, partition, "offset");
CREATE INDEX events_grid_time ON events (grid_id, occurred_at);
CREATE INDEX events_case ON events (case_id) WHERE case_id IS NOT NULL;

CREATE TABLE duplicate_deliveries (
    topic      text    NOT NULL,
    partition  integer NOT NULL,
    "offset"   bigint  NOT NULL,
    event_id   uuid    NOT NULL,
    seen_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (topic, partition, "offset")
);

CREATE TABLE dead_letters (
    topic      text    NOT NULL,
    partition  integer NOT NULL,
    "offset"   bigint  NOT NULL,
    kind       text    NOT NULL,
    message    text    NOT NULL,
    event_id   uuid,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (topic, partition, "offset")
);

CREATE TABLE grid_sequences (
    grid_id text PRIMARY KEY,
    seq     integer NOT NULL
);

CREATE TABLE cases (
    case_id     text PRIMARY KEY,
    case_code   text        NOT NULL UNIQUE,
    grid_id     text        NOT NULL,
    version     integer     NOT NULL,
    state       text        NOT NULL,
    level       text        NOT NULL,
    category    text        NOT NULL,
    severity    text        NOT NULL,
    is_open     boolean     NOT NULL,
    deadline    timestamptz,
    next_timer_at timestamptz,            -- next SLA warning or breach; null: none pending
    opened_at   timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    data        jsonb       NOT NULL
);
CREATE INDEX cases_open_grid ON cases (grid_id) WHERE is_open;
CREATE INDEX cases_open_deadline ON cases (deadline) WHERE is_open;
CREATE INDEX cases_next_timer ON cases (next_timer_at) WHERE is_open;

CREATE TABLE case_history (
    case_id    text        NOT NULL,
    version    integer     NOT NULL,
    state      text        NOT NULL,
    level      text        NOT NULL,
    reason     text        NOT NULL,
    event_id   uuid,
    changed_at timestamptz NOT NULL,
    snapshot   jsonb       NOT NULL,
    PRIMARY KEY (case_id, version)
);

CREATE TABLE dispatches (
    case_id    text        NOT NULL,
    version    integer     NOT NULL,
    level      text        NOT NULL,   -- grid / network
    reason     text,
    created_at timestamptz NOT NULL,
    payload    jsonb       NOT NULL,
    PRIMARY KEY (case_id, version, level)
);

CREATE TABLE alerts (
    alert_id     text PRIMARY KEY,     -- deterministic: kind + series + window
    kind         text        NOT NULL,
    grid_ids     text[]      NOT NULL,
    category     text,
    observed     double precision,
    expected     double precision,
    score        double precision,
    window_start timestamptz,
    window_end   timestamptz,
    created_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    payload      jsonb       NOT NULL
);

CREATE TABLE scan_audits (
    event_id    uuid PRIMARY KEY,
    worker_hash text        NOT NULL,
    code        text        NOT NULL,
    code_grid   text        NOT NULL,
    occurred_at timestamptz NOT NULL,
    reason      text        NOT NULL
);
