-- Backfill of existing users (CONTRACT §5): one row per run, one audit row per
-- examined user per run. Safe to run twice (IF NOT EXISTS everywhere).

CREATE TABLE IF NOT EXISTS user_authid_backfill_runs (
    run_id        uuid        PRIMARY KEY,
    strategy      text        NOT NULL CONSTRAINT user_authid_backfill_runs_strategy
                              CHECK (strategy IN ('list', 'lookup')),
    options       jsonb       NOT NULL DEFAULT '{}'::jsonb,
    started_at    timestamptz NOT NULL DEFAULT now(),
    finished_at   timestamptz,
    -- 'running' until the run ends; a run whose database session is gone
    -- without finishing is 'interrupted' (set by the next run, shown by reports).
    outcome       text        NOT NULL DEFAULT 'running' CONSTRAINT user_authid_backfill_runs_outcome
                              CHECK (outcome IN ('running', 'finished', 'failed', 'interrupted')),
    failure       text,
    -- Counts per resolution_status, written when the run ends.
    counts        jsonb       NOT NULL DEFAULT '{}'::jsonb,
    -- The run's database session, to tell a live run from an interrupted one.
    backend_pid   integer,
    backend_start timestamptz,
    reverted_at   timestamptz
);

CREATE TABLE IF NOT EXISTS user_authid_backfill_audit (
    run_id            uuid        NOT NULL,
    user_id           uuid        NOT NULL,
    email             text        NOT NULL,
    -- The identity linked, or the one the status is about (none for missing/duplicate).
    auth_id           uuid,
    resolution_status text        NOT NULL CONSTRAINT user_authid_backfill_audit_status
                                  CHECK (resolution_status IN ('linked', 'already_linked', 'missing',
                                         'duplicate', 'conflict', 'unverified', 'error')),
    detail            text,
    -- For `linked` rows this equals the users.linked_at the run wrote (same
    -- transaction), which is how a revert recognises a link left unchanged.
    examined_at       timestamptz NOT NULL DEFAULT now(),
    reverted_at       timestamptz,
    PRIMARY KEY (run_id, user_id)
);

-- Unlinked users in id order: what a backfill walks.
CREATE INDEX IF NOT EXISTS users_unlinked_idx ON users (id) WHERE auth_id IS NULL;
