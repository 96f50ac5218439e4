-- Daily assessment snapshots (量化考核, SPEC §6): one row per day and subject, recomputed
-- from events and case_history; `as_of` < the day's end while the day is still running.
CREATE TABLE assessments (
    day          date        NOT NULL,
    subject_kind text        NOT NULL,   -- grid_worker / department
    subject_id   text        NOT NULL,   -- "<grid_id>/<worker hash>" or the department
    grid_id      text,                   -- a worker's grid; null for a department
    as_of        timestamptz NOT NULL,
    indicators   jsonb       NOT NULL,   -- figure -> value; null where the denominator is 0
    score        double precision,       -- null when no figure has a value
    grade        text,
    trace        jsonb       NOT NULL,   -- figure -> {numerator: [ids], denominator: [ids], population}
    computed_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (day, subject_kind, subject_id)
);

-- The assessment reads history as of a day's end: by time, not by case.
CREATE INDEX case_history_changed ON case_history (changed_at);
-- Which days gained events since the last recomputation. BRIN: processed_at grows with
-- insertion order, so the index stays tiny and costs the sink's COPY next to nothing.
CREATE INDEX events_processed ON events USING brin (processed_at);
