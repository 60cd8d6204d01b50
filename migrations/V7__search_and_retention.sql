-- Admin search through an index, and audit retention by age.
--
-- The indexes themselves are built right after the SQL migrations, outside
-- their transaction and with CREATE INDEX CONCURRENTLY, so that they never
-- block writes on a big table (see `adapters/src/postgres/search_index.rs`):
--   * users: a pg_trgm GIN index on `email_normalized`, `first_name` and
--     `last_name` (`users_search_trgm_idx`); where `CREATE EXTENSION pg_trgm`
--     is refused (no privilege, extension not installed), btree
--     `text_pattern_ops` indexes for prefix and equality search instead
--     (`users_search_prefix_*`). Which one is in use is said in one line by
--     `migrate`, `migrate --status` and at `serve` startup.
--   * identity_audit: a btree index on `occurred_at`, which
--     `identity-link audit prune` deletes by.
-- Safe to run twice.

COMMENT ON TABLE identity_audit IS
    'One row per resolve/webhook call and per link change; pruned by age with `identity-link audit prune --older-than DURATION`.';
