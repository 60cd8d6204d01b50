-- Emails compare by a normal form the service computes (trimmed, control
-- characters dropped, Unicode lowercase, NFC: ports' `text::email_key`), stored
-- in `users.email_normalized`, so that uniqueness and lookups do not depend on
-- the database's ctype (`lower()` under LC_CTYPE 'C' leaves `Ë` alone).
--
-- This file holds only what is quick on any table size: a nullable column
-- (a catalog change, no rewrite), the table collisions are recorded in, and a
-- trigger for writers that do not fill the column. Filling existing rows and
-- building the unique index happen right after the SQL migrations, outside
-- their transaction, in batches and with CREATE INDEX CONCURRENTLY (see
-- `adapters/src/postgres/email_keys.rs`): in here, a big table would have its
-- rows locked until the fill committed, and a plain index build would block
-- every write for its whole duration.
-- Safe to run twice (IF NOT EXISTS, OR REPLACE, DROP … IF EXISTS).

ALTER TABLE users ADD COLUMN IF NOT EXISTS email_normalized text;

-- Users whose email has the same normal form as an older user's: the older
-- one keeps it; these keep their row and email but no normal form (so no
-- lookup by email finds them) until an operator changes or merges them.
-- `migrate` and `serve` report every unresolved one at start.
CREATE TABLE IF NOT EXISTS users_email_collisions (
    user_id          uuid        PRIMARY KEY,
    email            text        NOT NULL,
    email_normalized text        NOT NULL,
    kept_user_id     uuid        NOT NULL,
    found_at         timestamptz NOT NULL DEFAULT now()
);

-- The database's closest approximation of the service's normal form, for rows
-- written by something else than the service (an older version during a
-- rolling upgrade, an operator's SQL): ICU's root-locale lowercase, which does
-- not depend on the ctype, and NFC where the encoding allows it; plain
-- `lower()` on a server built without ICU or a database whose encoding ICU
-- cannot serve (SQL_ASCII, as `initdb` makes under the C locale).
DO $$
DECLARE
    folded text := 'lower(email)';
BEGIN
    BEGIN
        PERFORM lower('A' COLLATE "und-x-icu");
        folded := 'lower(email COLLATE "und-x-icu")';
    EXCEPTION WHEN undefined_object OR feature_not_supported THEN
        NULL;
    END;
    IF getdatabaseencoding() = 'UTF8' THEN
        folded := format('normalize(%s, NFC)', folded);
    END IF;
    EXECUTE format(
        'CREATE OR REPLACE FUNCTION users_email_fold(email text) RETURNS text
             LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $f$ SELECT %s $f$', folded);
END
$$;

-- Fills the normal form when a writer leaves it out: on insert, and on an
-- email change that left it as it was although the email's form changed.
-- The service always writes it itself; this never overrides a value it set.
CREATE OR REPLACE FUNCTION users_email_normalized_fill() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.email_normalized IS NULL THEN
            NEW.email_normalized := users_email_fold(btrim(NEW.email));
        END IF;
    ELSIF NEW.email IS DISTINCT FROM OLD.email
          AND NEW.email_normalized IS NOT DISTINCT FROM OLD.email_normalized
          AND users_email_fold(NEW.email) IS DISTINCT FROM users_email_fold(OLD.email) THEN
        NEW.email_normalized := users_email_fold(btrim(NEW.email));
    END IF;
    RETURN NEW;
END
$$;

DROP TRIGGER IF EXISTS users_email_normalized_fill ON users;
CREATE TRIGGER users_email_normalized_fill
    BEFORE INSERT OR UPDATE OF email ON users
    FOR EACH ROW EXECUTE FUNCTION users_email_normalized_fill();
