-- Early warning (SPEC §7, issue 24): a window is scored only once every partition of the
-- by-grid topic has been processed past its end plus the grace. The leader sends each
-- partition a watermark envelope (the latest event time counted when it was sent); the grid
-- stage writes it here in the same transaction as the counts of the envelopes before it, so
-- the row and the counts are exactly-once together. The minimum over all partitions decides.
CREATE TABLE partition_watermarks (
    topic      text        NOT NULL,
    partition  integer     NOT NULL,
    watermark  timestamptz NOT NULL,
    PRIMARY KEY (topic, partition)
);
