-- Append-only audit trail: one row per resolve/webhook call and per link change.
CREATE TABLE IF NOT EXISTS identity_audit (
    id             bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    correlation_id uuid        NOT NULL,
    occurred_at    timestamptz NOT NULL,
    source         text        NOT NULL,
    action         text        NOT NULL,
    outcome        text        NOT NULL,
    auth_id        uuid,
    user_id        uuid,
    actor          text,
    detail         jsonb       NOT NULL DEFAULT '{}'::jsonb
);

CREATE INDEX IF NOT EXISTS identity_audit_user_idx
    ON identity_audit (user_id, occurred_at DESC) WHERE user_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS identity_audit_auth_idx
    ON identity_audit (auth_id, occurred_at DESC) WHERE auth_id IS NOT NULL;
