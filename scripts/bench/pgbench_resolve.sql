-- The SQL of one already-linked resolve: the indexed select by auth_id and one audit insert.
\set n random(0, :users - 1)
SELECT id, email, first_name, last_name, avatar_url, auth_id, created_at, linked_at
  FROM users WHERE auth_id = ('1d000000-0000-4000-8000-' || lpad(to_hex(:n::bigint), 12, '0'))::uuid;
INSERT INTO identity_audit (correlation_id, occurred_at, source, action, outcome, auth_id, user_id, actor, detail)
VALUES (gen_random_uuid(), now(), 'resolve', 'resolved', 'ok',
        ('1d000000-0000-4000-8000-' || lpad(to_hex(:n::bigint), 12, '0'))::uuid, NULL, 'bench', '{}'::jsonb);
