-- Household-registration cross-checks (issue 21, docs/households.md): the reconciliation's
-- state. Every person identifier here is the keyed hash intake made (SPEC §8): nothing in
-- clear. Written by the household stage (agents/households.py), keyed by person hash; the
-- case side (household_cases) by the grid stage, in its batch's transaction.

-- One row per person the stage has seen: the by-person partition that owns them, and
-- whether a batch (or the daily sweep) touched them since they were last reconciled.
CREATE TABLE household_persons (
    person_hash    text PRIMARY KEY,
    partition      integer     NOT NULL,
    dirty          boolean     NOT NULL DEFAULT true,
    reconciled_at  timestamptz
);
CREATE INDEX household_persons_dirty ON household_persons (partition) WHERE dirty;
CREATE INDEX household_persons_partition ON household_persons (partition);

-- civic.residents.v1, last record per person (compacted state): applied only when it comes
-- from a later offset of its source partition, so a replay never moves it backwards.
CREATE TABLE household_residents (
    person_hash    text PRIMARY KEY,
    src_partition  integer     NOT NULL,
    src_offset     bigint      NOT NULL,
    forgotten      boolean     NOT NULL DEFAULT false,   -- a tombstone
    born_on        date,
    registrations  jsonb       NOT NULL DEFAULT '[]',    -- household ids hashed
    updated_at     timestamptz NOT NULL DEFAULT clock_timestamp()
);
-- who is registered at a place: a home visit there is evidence about them (the silence rule
-- counts the visits that missed them), so it touches them too
CREATE INDEX household_residents_places ON household_residents
    USING gin (registrations jsonb_path_ops) WITH (fastupdate = off);

-- civic.presence.v1: one row per event id (the de-duplication key, no window); the offset it
-- was applied from, as `events` keeps it (a redelivery lands in duplicate_deliveries).
CREATE TABLE household_sightings (
    event_id       uuid PRIMARY KEY,
    person_hash    text        NOT NULL,
    source         text        NOT NULL,
    kind           text        NOT NULL,
    place_code     text,
    day            date        NOT NULL,                 -- occurred_at's day in the city
    born_on        date,
    observer_hash  text,
    occurred_at    timestamptz NOT NULL,
    topic          text        NOT NULL,
    partition      integer     NOT NULL,
    "offset"       bigint      NOT NULL
);
CREATE INDEX household_sightings_person ON household_sightings (person_hash);
CREATE INDEX household_sightings_visits ON household_sightings (place_code, day)
    WHERE source = 'home_visit';

-- The findings each person raises now (a household's finding is raised by each member
-- whose entry shows it); evidence masked (docs/households.md).
CREATE TABLE household_findings (
    person_hash    text        NOT NULL,
    finding_id     text        NOT NULL,                 -- keyed hash of (kind, subject)
    kind           text        NOT NULL,
    subject        text        NOT NULL,                 -- masked: h:12345678…
    rule           text        NOT NULL,
    place_code     text,
    grid_id        text,
    decisive_on    date        NOT NULL,
    thresholds     jsonb       NOT NULL,
    evidence       jsonb       NOT NULL,
    households     jsonb       NOT NULL,
    found_at       timestamptz NOT NULL,
    PRIMARY KEY (person_hash, finding_id)
);
CREATE INDEX household_findings_finding ON household_findings (finding_id);

-- Per finding: raised or withdrawn, and a generation that counts the changes, so the grid
-- stage applies each change once and in order.
CREATE TABLE household_finding_state (
    finding_id     text PRIMARY KEY,
    kind           text        NOT NULL,
    grid_id        text,
    raised         boolean     NOT NULL,
    generation     integer     NOT NULL,
    changed_at     timestamptz NOT NULL
);

-- The grid stage's side: the case a finding opened or joined, and the last generation it
-- applied (a replayed or older change is skipped).
CREATE TABLE household_cases (
    finding_id     text PRIMARY KEY,
    case_id        text,
    grid_id        text        NOT NULL,
    kind           text        NOT NULL,
    raised         boolean     NOT NULL,
    generation     integer     NOT NULL,
    updated_at     timestamptz NOT NULL
);
CREATE INDEX household_cases_case ON household_cases (case_id);

-- The leader's daily sweep (the silence rules move with the calendar): one row per day sent.
CREATE TABLE household_sweeps (
    day      date PRIMARY KEY,
    sent_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);
