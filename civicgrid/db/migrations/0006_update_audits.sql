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
