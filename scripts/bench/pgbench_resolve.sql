-- The SQL of one already-linked resolve: the indexed select by auth_id and one audit insert.
\set n random(1, :users)
SELECT id, email, first_name, last_name, avatar_url, auth_id, created_at, linked_at
  FROM users WHERE auth_id = md5('bench-' || :n)::uuid;
INSERT INTO identity_audit (correlation_id, occurred_at, source, action, outcome, auth_id, user_id, actor, detail)
VALUES (gen_random_uuid(), now(), 'resolve', 'resolved', 'ok', md5('bench-' || :n)::uuid, NULL, 'bench', '{}'::jsonb);
