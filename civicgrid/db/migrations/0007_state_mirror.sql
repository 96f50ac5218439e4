-- The mirror of the compacted state topics (docs/architecture.md, "State mirror"): every
-- worker writes what it follows, so readers (CLI, API, console, assessment) need no Kafka
-- consumer. One table per topic, keyed by the record key; a tombstone deletes the row.
-- `partition` is the record's partition: rows of a partition recreated on the broker are
-- dropped together.
CREATE TABLE mirror_offsets (
    topic       text        NOT NULL,
    partition   integer     NOT NULL,
    next_offset bigint      NOT NULL,   -- every record below it is in the mirror
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (topic, partition)
);

CREATE TABLE mirror_grids (
    grid_id    text        PRIMARY KEY,
    partition  integer     NOT NULL,
    name       text        NOT NULL,
    community  text        NOT NULL,
    street     text        NOT NULL,
    district   text        NOT NULL,
    city       text        NOT NULL,
    neighbours text[]      NOT NULL,
    worker_ids text[]      NOT NULL,
    households integer     NOT NULL,
    polygon    jsonb,                  -- [[lon, lat], ...], closed ring
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX mirror_grids_street ON mirror_grids (street);

CREATE TABLE mirror_codes (
    code         text             PRIMARY KEY,
    partition    integer          NOT NULL,
    element_type text             NOT NULL,
    kind         text             NOT NULL,
    grid_id      text             NOT NULL,
    name         text,                          -- ID-card and mobile numbers masked
    lat          double precision,
    lon          double precision,
    attributes   jsonb            NOT NULL,     -- string values masked likewise
    updated_at   timestamptz      NOT NULL DEFAULT now()
);
CREATE INDEX mirror_codes_grid ON mirror_codes (grid_id);
