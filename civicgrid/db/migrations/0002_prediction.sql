-- Prediction and early warning (SPEC §7). Counts are written by the grid stage in the same
-- transaction as the events they count, so a replayed batch never counts twice; windows are
-- scored by the leader, each once, in one transaction that also moves the baselines on.

-- One row per grid x category series and event-time window; window_seconds names the size.
CREATE TABLE series_counts (
    grid_id        text        NOT NULL,
    category       text        NOT NULL,
    window_seconds integer     NOT NULL,
    window_start   timestamptz NOT NULL,
    count          integer     NOT NULL,
    PRIMARY KEY (window_seconds, window_start, grid_id, category)
);

-- The learned baseline of each series (SeriesBaseline.to_dict).
CREATE TABLE series_baselines (
    grid_id        text    NOT NULL,
    category       text    NOT NULL,
    window_seconds integer NOT NULL,
    state          jsonb   NOT NULL,
    PRIMARY KEY (window_seconds, grid_id, category)
);

-- Every scored window; state holds the detector's episode memory after it (which series and
-- clusters were over threshold), which the next window needs to alert each anomaly once.
CREATE TABLE scored_windows (
    window_seconds integer     NOT NULL,
    window_start   timestamptz NOT NULL,
    window_end     timestamptz NOT NULL,
    watermark      timestamptz NOT NULL,
    scored_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    alerts         integer     NOT NULL,
    state          jsonb       NOT NULL,
    PRIMARY KEY (window_seconds, window_start)
);

-- The event-time watermark is max(occurred_at).
CREATE INDEX events_occurred_at ON events (occurred_at);
