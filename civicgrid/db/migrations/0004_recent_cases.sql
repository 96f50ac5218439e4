-- Repeat points (SPEC §5) count a point's reports of the last 7 days across its cases, open
-- or closed: the grid stage loads, besides the open cases, the grids' cases updated since
-- the batch's earliest report minus 7 days. Without this index that read scans every
-- closed case of the grid, a set that only grows.
CREATE INDEX cases_grid_updated ON cases (grid_id, updated_at);
