-- Early warning (SPEC §7) alerts a window while it is still counting. On every check, and
-- when the window is scored, the leader reads back the rate and cluster alerts the window has
-- raised, so none is raised twice; without this index that read scans every alert ever
-- written, repeat points included, once a minute.
CREATE INDEX alerts_window ON alerts (window_start) WHERE kind IN ('rate_anomaly', 'cluster');
