-- Users of the application, each linked to at most one Kratos identity.
-- Written to be safe to run twice (IF NOT EXISTS everywhere).
CREATE TABLE IF NOT EXISTS users (
    id          uuid        PRIMARY KEY,
    email       text        NOT NULL CONSTRAINT users_email_trimmed CHECK (email = btrim(email) AND email <> ''),
    first_name  text,
    last_name   text,
    avatar_url  text,
    auth_id     uuid        CONSTRAINT users_auth_id_key UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    linked_at   timestamptz,
    CONSTRAINT users_linked_at_with_auth_id CHECK ((auth_id IS NULL) = (linked_at IS NULL))
);

-- One user per email, compared case-insensitively.
CREATE UNIQUE INDEX IF NOT EXISTS users_email_key ON users (lower(email));
