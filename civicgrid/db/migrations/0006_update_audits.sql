-- Case updates refused as unauthorised (civic.actors.v1 roster, docs/contract.md), audited
-- like out-of-scope scans: who tried what on which case, and why it was refused. actor_id
-- is the keyed hash for grid workers and residents, as in events.actor_hash.
CREATE TABLE update_audits (
    event_id    uuid PRIMARY KEY,
    actor_id    text        NOT NULL,
    actor_kind  text        NOT NULL,
    case_id     text        NOT NULL,
    grid_id     text        NOT NULL,
    action      text        NOT NULL,
    occurred_at timestamptz NOT NULL,
    reason      text        NOT NULL
);

CREATE INDEX update_audits_case ON update_audits (case_id);

-- The actor roster (civic.actors.v1) in the state mirror, written by the workers that follow
-- it like mirror_grids (0007_state_mirror.sql), so the console and the operator commands read
-- who may act where without a Kafka consumer. Ids in clear, as in mirror_grids.worker_ids:
-- the roster is the staff list the console signs people in against.
CREATE TABLE mirror_actors (
    actor_id    text        PRIMARY KEY,
    partition   integer     NOT NULL,
    kind        text        NOT NULL,   -- grid_worker / department / operator
    name        text,                   -- ID-card and mobile numbers masked
    rung        text,                   -- operators: grid / community / street / district / city
    grids       text[]      NOT NULL,
    community   text,
    street      text,
    district    text,
    departments text[]      NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX mirror_actors_grids ON mirror_actors USING gin (grids);
