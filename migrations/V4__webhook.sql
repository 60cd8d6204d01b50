-- Kratos webhook deliveries already answered, by Ory-Webhook-Trigger-ID (the
-- same on every retry of one hook execution): a redelivery gets the stored
-- answer and nothing is done again. Only final answers (accepted or refused)
-- are kept; a delivery answered 503 is run again when Kratos retries it.
CREATE TABLE IF NOT EXISTS kratos_webhook_deliveries (
    trigger_id          text        PRIMARY KEY,
    outcome             text        NOT NULL,
    refused             boolean     NOT NULL,
    auth_id             uuid,
    user_id             uuid,
    answered_at         timestamptz NOT NULL DEFAULT now(),
    redeliveries        integer     NOT NULL DEFAULT 0,
    last_redelivered_at timestamptz
);

CREATE INDEX IF NOT EXISTS kratos_webhook_deliveries_answered_idx
    ON kratos_webhook_deliveries (answered_at);

-- The outbox of Kratos external_id write-backs (WRITE_BACK_EXTERNAL_ID): one
-- row per identity, queued when a link is made, removed once written, kept
-- with status 'failed' when given up. `version` grows with every re-queue so
-- that a worker settling an older claim cannot undo a newer link's row.
CREATE TABLE IF NOT EXISTS external_id_writeback (
    auth_id         uuid        PRIMARY KEY,
    user_id         uuid        NOT NULL,
    version         bigint      NOT NULL DEFAULT 1,
    status          text        NOT NULL DEFAULT 'pending'
                                CONSTRAINT external_id_writeback_status CHECK (status IN ('pending', 'failed')),
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text,
    correlation_id  uuid        NOT NULL,
    source          text        NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX IF NOT EXISTS external_id_writeback_due_idx
    ON external_id_writeback (next_attempt_at) WHERE status = 'pending';
