-- Operators' corrections of the classifier (`reclassify`, issue 17), kept as labelled examples
-- for retraining (`civicgrid classifier retrain`) and as a live estimate of its accuracy.
-- One row per reclassify update (its event_id), written in the update's own transaction.
-- report_text is the case's first report as stored in events (personal numbers masked);
-- actor_hash is the operator's keyed hash: the examples are training data, kept and passed
-- on apart from the case record, and need to say that the same person corrected, not who.
CREATE TABLE classification_corrections (
    event_id        uuid        PRIMARY KEY,
    case_id         text        NOT NULL,
    report_event_id uuid        NOT NULL,
    report_text     text,
    from_category   text        NOT NULL,
    to_category     text        NOT NULL,
    from_severity   text        NOT NULL,
    to_severity     text        NOT NULL,
    actor_hash      text        NOT NULL,
    corrected_at    timestamptz NOT NULL
);

CREATE INDEX classification_corrections_at ON classification_corrections (corrected_at);

-- A reclassification withdraws the old owners' task: the withdrawal is a dispatch row of its
-- own (the task as it was given, `withdrawn` true), beside the task it takes back.
ALTER TABLE dispatches ADD COLUMN withdrawn boolean NOT NULL DEFAULT false;
ALTER TABLE dispatches DROP CONSTRAINT dispatches_pkey;
ALTER TABLE dispatches ADD PRIMARY KEY (case_id, version, level, withdrawn);
