-- tests/relay/pg_test.sql: the RLS and sweep assertions of issue 7 §1, run
-- by pg_test.sh on a database holding the stand-ins and the migration.
-- Every check raises (and psql stops with ON_ERROR_STOP) when it fails.
\set ON_ERROR_STOP 1
\set QUIET 1
SET client_min_messages = warning;
\o /dev/null

-- helpers, callable by every role ------------------------------------------
CREATE SCHEMA t;
GRANT USAGE ON SCHEMA t TO PUBLIC;
CREATE TABLE t.passed (n serial, what text);
GRANT ALL ON t.passed, t.passed_n_seq TO PUBLIC;
CREATE FUNCTION t.ok(cond boolean, what text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	IF cond IS NOT TRUE THEN
		RAISE EXCEPTION 'FAILED: %', what;
	END IF;
	INSERT INTO t.passed (what) VALUES (what);
END $$;
-- runs p_sql as the current role and expects SQLSTATE p_state
CREATE FUNCTION t.fails(p_sql text, p_state text, what text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	got text := NULL;
BEGIN
	BEGIN
		EXECUTE p_sql;
	EXCEPTION WHEN OTHERS THEN
		got := SQLSTATE;
	END;
	PERFORM t.ok(got = p_state, format('%s (expected %s, got %s)', what, p_state, coalesce(got, 'success')));
END $$;
-- number of rows p_sql returns or affects (as the current role)
CREATE FUNCTION t.n(p_sql text) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
	c bigint;
BEGIN
	IF p_sql ~* '^\s*(select|with)' THEN
		EXECUTE 'SELECT count(*) FROM (' || p_sql || ') s' INTO c;
	ELSE
		EXECUTE p_sql;
		GET DIAGNOSTICS c = ROW_COUNT;
	END IF;
	RETURN c;
END $$;
-- the request.jwt.claims of a user, as PostgREST/Storage set them
CREATE FUNCTION t.login(p_user uuid, p_extra jsonb DEFAULT '{}') RETURNS void LANGUAGE sql AS $$
	SELECT set_config('request.jwt.claims',
		(jsonb_build_object('sub', p_user, 'role', 'authenticated', 'aud', 'authenticated') || p_extra)::text,
		false)
$$;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA t TO PUBLIC;

-- fixtures: cabinet 5 = alice (1), bob (2), erin (10); cabinet 6 = carol (3),
-- frank (4); dave (9) has an account and an Osteopath row but no cabinet.
INSERT INTO "Cabinet" (id, name) VALUES (5, 'A'), (6, 'B');
INSERT INTO "Osteopath" (id, "authId") VALUES
	(1, 'a0000000-0000-0000-0000-000000000001'),
	(2, 'b0000000-0000-0000-0000-000000000002'),
	(3, 'c0000000-0000-0000-0000-000000000003'),
	(4, 'f0000000-0000-0000-0000-000000000004'),
	(9, 'd0000000-0000-0000-0000-000000000009'),
	(10, 'e0000000-0000-0000-0000-000000000010');
INSERT INTO osteopath_cabinet (osteopath_id, cabinet_id) VALUES (1, 5), (2, 5), (10, 5), (3, 6), (4, 6);
\set alice '''a0000000-0000-0000-0000-000000000001'''
\set bob '''b0000000-0000-0000-0000-000000000002'''
\set carol '''c0000000-0000-0000-0000-000000000003'''
\set dave '''d0000000-0000-0000-0000-000000000009'''
\set erin '''e0000000-0000-0000-0000-000000000010'''
\set h1 '''1111111111111111111111111111111111111111111111111111111111111111'''
\set h2 '''2222222222222222222222222222222222222222222222222222222222222222'''
\set h3 '''3333333333333333333333333333333333333333333333333333333333333333'''
-- a share and an object of cabinet 6, made by the owner
INSERT INTO cabinet_patient_sync (cabinet_id, patient_key_hash, owner_osteopath_id,
	shared_with_osteopath_id, sync_permission, patient_hash)
	VALUES (6, :h3, 3, 4, 'read', :h3);
INSERT INTO storage.objects (bucket_id, name) VALUES ('cabinet-sync', '6/4/devF/b6');
INSERT INTO storage.buckets (id, name) VALUES ('other', 'other');
SELECT t.ok((SELECT count(*) FROM cabsync_private.membership_problems()) = 0,
	'the minimal app tables let no user add themselves');
-- Storage sets this for its own deletes; the RLS DELETE policies still apply.
SET storage.allow_delete_query = 'true';

-- storage.objects ------------------------------------------------------------
SET ROLE authenticated;
SELECT t.login(:alice);
SELECT t.ok(t.n($$INSERT INTO storage.objects (bucket_id, name) VALUES ('cabinet-sync', '5/2/devB/bundle1')$$) = 1,
	'alice uploads into bob''s folder of her cabinet');
SELECT t.ok(t.n($$INSERT INTO storage.objects (bucket_id, name) VALUES ('cabinet-sync', '5/1/devA/self1')$$) = 1,
	'alice uploads into her own folder');
SELECT t.ok(t.n($$INSERT INTO storage.objects (bucket_id, name) VALUES ('cabinet-sync', '5/10/devE/forerin')$$) = 1,
	'alice uploads into erin''s folder');
SELECT t.fails($$INSERT INTO storage.objects (bucket_id, name) VALUES ('cabinet-sync', '6/3/devC/x')$$, '42501',
	'alice cannot upload into another cabinet');
SELECT t.fails($$INSERT INTO storage.objects (bucket_id, name) VALUES ('cabinet-sync', '5/3/devC/x')$$, '42501',
	'alice cannot upload for a practitioner outside her cabinet');
SELECT t.fails($$INSERT INTO storage.objects (bucket_id, name) VALUES ('cabinet-sync', '5/2/x')$$, '42501',
	'a name of the wrong depth is refused');
SELECT t.fails($$INSERT INTO storage.objects (bucket_id, name) VALUES ('cabinet-sync', '5/2/dev B/x')$$, '42501',
	'a device tag outside [A-Za-z0-9_-] is refused');
SELECT t.fails($$INSERT INTO storage.objects (bucket_id, name) VALUES ('other', '5/2/devB/x')$$, '42501',
	'alice cannot upload into another bucket');
SELECT t.ok(t.n($$UPDATE storage.objects SET name = '5/2/devB/renamed' WHERE bucket_id = 'cabinet-sync'$$) = 0,
	'no one overwrites or renames an object (no UPDATE policy)');
SELECT t.ok((SELECT array_agg(name ORDER BY name) FROM storage.objects) = ARRAY['5/1/devA/self1'],
	'alice lists only her own folder');
SELECT t.ok(t.n($$DELETE FROM storage.objects WHERE name = '5/2/devB/bundle1'$$) = 0,
	'alice cannot delete the bundle she sent bob');
SELECT t.login(:alice, '{"app_metadata": {"cabinet_id": 6}, "cabinet_id": 6, "role": "service_role"}');
SELECT t.fails($$INSERT INTO storage.objects (bucket_id, name) VALUES ('cabinet-sync', '6/3/devC/claim')$$, '42501',
	'claims in the JWT grant no membership');
SELECT t.ok(t.n('SELECT 1 FROM storage.objects WHERE name LIKE ''6/%''') = 0,
	'claims in the JWT show nothing of another cabinet');

SELECT t.login(:bob);
SELECT t.ok((SELECT array_agg(name ORDER BY name) FROM storage.objects) = ARRAY['5/2/devB/bundle1'],
	'bob lists only his own folder');
SELECT t.login(:erin);
SELECT t.ok((SELECT array_agg(name ORDER BY name) FROM storage.objects) = ARRAY['5/10/devE/forerin'],
	'erin lists only her own folder');
SELECT t.ok(t.n($$DELETE FROM storage.objects WHERE name LIKE '5/2/%'$$) = 0,
	'a colleague (erin) cannot delete bob''s bundles');
SELECT t.login(:carol);
SELECT t.ok(t.n('SELECT 1 FROM storage.objects WHERE name LIKE ''5/%''') = 0,
	'a member of another cabinet sees nothing of cabinet 5');
SELECT t.ok(t.n($$DELETE FROM storage.objects WHERE name LIKE '5/%'$$) = 0,
	'a member of another cabinet deletes nothing of cabinet 5');
SELECT t.login(:dave);
SELECT t.ok(t.n('SELECT 1 FROM storage.objects') = 0, 'a non-member sees no object');
SELECT t.fails($$INSERT INTO storage.objects (bucket_id, name) VALUES ('cabinet-sync', '5/2/devB/dave')$$, '42501',
	'a non-member cannot upload');
SELECT set_config('request.jwt.claims', '{"role":"authenticated"}', false);
SELECT t.ok(t.n('SELECT 1 FROM storage.objects') = 0, 'a token without sub sees nothing');
RESET ROLE;

SET ROLE anon;
SELECT set_config('request.jwt.claims', '{"role":"anon"}', false);
SELECT t.ok(t.n('SELECT 1 FROM storage.objects') = 0, 'anon sees no object');
SELECT t.fails($$INSERT INTO storage.objects (bucket_id, name) VALUES ('cabinet-sync', '5/2/devB/anon')$$, '42501',
	'anon cannot upload');
SELECT t.fails('SELECT * FROM cabinet_patient_sync', '42501', 'anon cannot read the shares');
SELECT t.fails('SELECT * FROM cabinet_sync_bundle', '42501', 'anon cannot read the bundles');
SELECT t.fails($$INSERT INTO cabinet_patient_sync (cabinet_id, patient_key_hash, owner_osteopath_id,
	shared_with_osteopath_id, sync_permission, patient_hash) VALUES (5, repeat('a', 64), 1, 2, 'read', repeat('a', 64))$$,
	'42501', 'anon cannot insert a share');
SELECT t.fails('INSERT INTO osteopath_cabinet VALUES (9, 5)', '42501', 'anon cannot make itself a member');
RESET ROLE;

SET ROLE authenticated;
SELECT t.login(:bob);
SELECT t.ok(t.n($$DELETE FROM storage.objects WHERE name = '5/2/devB/bundle1'$$) = 1,
	'bob deletes the bundle addressed to him');
RESET ROLE;
SELECT t.ok((SELECT count(*) FROM storage.objects WHERE bucket_id = 'cabinet-sync') = 3,
	'the other objects are still there');

-- cabinet_patient_sync -------------------------------------------------------
SET ROLE authenticated;
SELECT t.login(:alice);
SELECT t.ok(t.n(format($$INSERT INTO cabinet_patient_sync (cabinet_id, patient_key_hash, owner_osteopath_id,
	shared_with_osteopath_id, sync_permission, patient_hash, last_sync_timestamp)
	VALUES (5, %L, 1, 2, 'write', %L, '2026-11-27 10:37:12.5+00')$$, :h1, :h1)) = 1,
	'alice shares her patient with bob');
SELECT t.ok((SELECT last_sync_timestamp = '2026-11-27 10:00:00+00' FROM cabinet_patient_sync WHERE patient_hash = :h1),
	'last_sync_timestamp is rounded down to the hour');
SELECT t.ok((SELECT created_at = date_trunc('hour', created_at) FROM cabinet_patient_sync WHERE patient_hash = :h1),
	'created_at is on the hour');
SET TimeZone = 'Asia/Kolkata';
SELECT t.ok(t.n(format($$INSERT INTO cabinet_patient_sync (cabinet_id, patient_key_hash, owner_osteopath_id,
	shared_with_osteopath_id, sync_permission, patient_hash, last_sync_timestamp)
	VALUES (5, %L, 1, 10, 'read', %L, '2026-11-27 16:20:00+05:30')$$, :h3, :h3)) = 1,
	'a share written from a +05:30 session');
SELECT t.ok((SELECT last_sync_timestamp = '2026-11-27 10:00:00+00' FROM cabinet_patient_sync WHERE patient_hash = :h3),
	'...is rounded to the UTC hour, whatever the session time zone');
RESET TimeZone;
SELECT t.ok(t.n(format('DELETE FROM cabinet_patient_sync WHERE patient_hash = %L', :h3)) = 1, 'the owner deletes a share');
SELECT t.fails(format($$INSERT INTO cabinet_patient_sync (cabinet_id, patient_key_hash, owner_osteopath_id,
	shared_with_osteopath_id, sync_permission, patient_hash) VALUES (5, %L, 2, 1, 'read', %L)$$, :h2, :h2),
	'42501', 'alice cannot insert a share in bob''s name');
SELECT t.fails(format($$INSERT INTO cabinet_patient_sync (cabinet_id, patient_key_hash, owner_osteopath_id,
	shared_with_osteopath_id, sync_permission, patient_hash) VALUES (5, %L, 1, 3, 'read', %L)$$, :h2, :h2),
	'42501', 'alice cannot share with a practitioner of another cabinet');
SELECT t.fails(format($$INSERT INTO cabinet_patient_sync (cabinet_id, patient_key_hash, owner_osteopath_id,
	shared_with_osteopath_id, sync_permission, patient_hash) VALUES (6, %L, 1, 3, 'read', %L)$$, :h2, :h2),
	'42501', 'alice cannot insert into another cabinet');
SELECT t.fails(format($$INSERT INTO cabinet_patient_sync (cabinet_id, patient_key_hash, owner_osteopath_id,
	shared_with_osteopath_id, sync_permission, patient_hash) VALUES (5, %L, 1, 2, 'admin', %L)$$, :h2, :h2),
	'23514', 'sync_permission must be read/write/full');
SELECT t.fails(format($$INSERT INTO cabinet_patient_sync (cabinet_id, patient_key_hash, owner_osteopath_id,
	shared_with_osteopath_id, sync_permission, patient_hash) VALUES (5, '4711', 1, 2, 'read', %L)$$, :h2),
	'23514', 'a plain local patient id is refused (keyed hash only)');
SELECT t.fails(format($$INSERT INTO cabinet_patient_sync (cabinet_id, patient_key_hash, owner_osteopath_id,
	shared_with_osteopath_id, sync_permission, patient_hash) VALUES (5, %L, 1, 2, 'read', %L)$$, :h1, :h1),
	'23505', 'the same share twice is a unique violation');
SELECT t.ok(t.n(format($$INSERT INTO cabinet_patient_sync (cabinet_id, patient_key_hash, owner_osteopath_id,
	shared_with_osteopath_id, sync_permission, patient_hash) VALUES (5, %L, 1, 2, 'full', %L)
	ON CONFLICT (cabinet_id, patient_hash, owner_osteopath_id, shared_with_osteopath_id)
	DO UPDATE SET sync_permission = EXCLUDED.sync_permission, patient_key_hash = EXCLUDED.patient_key_hash$$, :h1, :h1)) = 1,
	'the owner upserts her share (PostgREST merge-duplicates)');
SELECT t.ok((SELECT count(*) FROM cabinet_patient_sync) = 1, 'alice sees her one share, not cabinet 6''s');
SELECT t.login(:bob);
SELECT t.ok(t.n(format($$INSERT INTO cabinet_patient_sync (cabinet_id, patient_key_hash, owner_osteopath_id,
	shared_with_osteopath_id, sync_permission, patient_hash) VALUES (5, %L, 2, 10, 'read', %L)$$, :h2, :h2)) = 1,
	'bob shares his patient with erin');
SELECT t.ok((SELECT array_agg(patient_hash ORDER BY patient_hash) FROM cabinet_patient_sync) = ARRAY[:h1, :h2],
	'bob sees the share to him and his own');
SELECT t.ok(t.n(format($$UPDATE cabinet_patient_sync SET last_sync_timestamp = '2026-11-27 12:59:59+00' WHERE patient_hash = %L$$, :h1)) = 1,
	'the recipient moves last_sync_timestamp');
SELECT t.fails(format($$UPDATE cabinet_patient_sync SET is_active = false WHERE patient_hash = %L$$, :h1), '42501',
	'the recipient cannot revoke');
SELECT t.fails(format($$UPDATE cabinet_patient_sync SET sync_permission = 'read' WHERE patient_hash = %L$$, :h1), '42501',
	'the recipient cannot change his permission');
SELECT t.fails(format($$UPDATE cabinet_patient_sync SET shared_with_osteopath_id = 10 WHERE patient_hash = %L$$, :h1), '42501',
	'a share''s identity cannot change');
SELECT t.ok(t.n(format($$DELETE FROM cabinet_patient_sync WHERE patient_hash = %L$$, :h1)) = 0,
	'the recipient cannot delete the share');
SELECT t.login(:erin);
SELECT t.ok((SELECT array_agg(patient_hash) FROM cabinet_patient_sync) = ARRAY[:h2],
	'a colleague (erin) sees only the share to her, not alice->bob');
SELECT t.ok(t.n(format($$UPDATE cabinet_patient_sync SET last_sync_timestamp = now() WHERE patient_hash = %L$$, :h1)) = 0,
	'a colleague cannot touch another''s share');
SELECT t.login(:carol);
SELECT t.ok((SELECT array_agg(patient_hash) FROM cabinet_patient_sync) = ARRAY[:h3],
	'a member of cabinet 6 sees only cabinet 6''s share to her');
SELECT t.login(:dave);
SELECT t.ok(t.n('SELECT 1 FROM cabinet_patient_sync') = 0, 'a non-member sees no share');
SELECT t.login(:alice);
SELECT t.ok(t.n(format($$UPDATE cabinet_patient_sync SET is_active = false WHERE patient_hash = %L$$, :h1)) = 1,
	'the owner revokes');
SELECT t.ok((SELECT last_sync_timestamp = '2026-11-27 12:00:00+00' FROM cabinet_patient_sync WHERE patient_hash = :h1),
	'an updated last_sync_timestamp is rounded too');
RESET ROLE;
ALTER TABLE cabinet_patient_sync DISABLE TRIGGER cabsync_share_guard;
SELECT t.fails($$UPDATE cabinet_patient_sync SET last_sync_timestamp = '2026-11-27 12:30:00+00'$$, '23514',
	'the CHECK holds even without the trigger');
ALTER TABLE cabinet_patient_sync ENABLE TRIGGER cabsync_share_guard;

-- cabinet_sync_bundle --------------------------------------------------------
SET ROLE authenticated;
SELECT t.login(:alice);
SELECT t.ok(t.n($$INSERT INTO cabinet_sync_bundle (object_name, cabinet_id, sender_osteopath_id,
	recipient_osteopath_id, recipient_device_tag, size_bytes, created_at, expires_at)
	VALUES ('5/2/devB/bundle2', 5, 1, 2, 'devB', 1234, now() - interval '3 days', now() + interval '24 hours')$$) = 1,
	'alice records a bundle for bob');
SELECT t.ok((SELECT created_at > now() - interval '1 minute' FROM cabinet_sync_bundle WHERE object_name = '5/2/devB/bundle2'),
	'the server stamps created_at (no backdating)');
SELECT t.fails($$INSERT INTO cabinet_sync_bundle (object_name, cabinet_id, sender_osteopath_id,
	recipient_osteopath_id, recipient_device_tag, size_bytes)
	VALUES ('5/2/devB/forged', 5, 2, 2, 'devB', 1)$$, '42501', 'alice cannot record a bundle in bob''s name');
SELECT t.fails($$INSERT INTO cabinet_sync_bundle (object_name, cabinet_id, sender_osteopath_id,
	recipient_osteopath_id, recipient_device_tag, size_bytes)
	VALUES ('6/3/devC/x', 6, 1, 3, 'devC', 1)$$, '42501', 'alice cannot record a bundle in another cabinet');
SELECT t.fails($$INSERT INTO cabinet_sync_bundle (object_name, cabinet_id, sender_osteopath_id,
	recipient_osteopath_id, recipient_device_tag, size_bytes)
	VALUES ('5/10/devB/x', 5, 1, 2, 'devB', 1)$$, '23514', 'the object name must match the recipient');
SELECT t.fails($$INSERT INTO cabinet_sync_bundle (object_name, cabinet_id, sender_osteopath_id,
	recipient_osteopath_id, recipient_device_tag, size_bytes, expires_at)
	VALUES ('5/2/devB/long', 5, 1, 2, 'devB', 1, now() + interval '30 days')$$, '23514', 'a bundle cannot live a month');
SELECT t.login(:erin);
SELECT t.ok(t.n('SELECT 1 FROM cabinet_sync_bundle') = 0, 'a colleague (erin) does not see bob''s bundle rows');
SELECT t.ok(t.n('DELETE FROM cabinet_sync_bundle') = 0, 'a colleague cannot delete bob''s bundle rows');
SELECT t.login(:carol);
SELECT t.ok(t.n('SELECT 1 FROM cabinet_sync_bundle') = 0, 'another cabinet sees no bundle row');
SELECT t.login(:bob);
SELECT t.ok(t.n('SELECT 1 FROM cabinet_sync_bundle') = 1, 'bob sees the bundle row addressed to him');
SELECT t.fails($$UPDATE cabinet_sync_bundle SET expires_at = now() + interval '2 days'$$, '42501',
	'bundle rows are never updated');
SELECT t.ok(t.n('DELETE FROM cabinet_sync_bundle') = 1, 'bob deletes it after import');

-- membership cannot be self-granted ------------------------------------------
SELECT t.login(:dave);
SELECT t.fails('INSERT INTO osteopath_cabinet VALUES (9, 5)', '42501', 'a user cannot make themselves a member');
SELECT t.fails($$UPDATE "Osteopath" SET "authId" = 'd0000000-0000-0000-0000-000000000009' WHERE id = 1$$, '42501',
	'a user cannot take over another practitioner''s row');
SELECT t.fails($$INSERT INTO "Osteopath" (id, "authId") VALUES (11, 'd0000000-0000-0000-0000-000000000009')$$, '42501',
	'a user cannot create a practitioner');
SELECT t.fails('SELECT cabsync_private.sweep_expired()', '42501', 'a user cannot run the sweep');
SELECT t.fails('SELECT * FROM cabsync_private.settings', '42501', 'a user cannot read or change the settings');
RESET ROLE;

-- the sweep --------------------------------------------------------------
SET client_min_messages = error;
SELECT t.ok(cabsync_private.sweep_expired() = 0, 'no Vault secrets: nothing swept');
SET client_min_messages = warning;
SELECT t.ok((SELECT count(*) FROM net.http_request_queue) = 0, 'no Vault secrets: no request');
SELECT vault.create_secret('https://example-ref.supabase.co/', 'cabsync_project_url');
SELECT vault.create_secret('eyJhbGciOiJIUzI1NiJ9.service.sig', 'cabsync_service_key');
INSERT INTO storage.objects (bucket_id, name, created_at) VALUES
	('cabinet-sync', '5/2/devB/old1', now() - interval '25 hours'),
	('cabinet-sync', '5/2/devB/old2', now() - interval '24 hours 1 minute'),
	('cabinet-sync', '5/2/devB/fresh', now() - interval '23 hours 59 minutes'),
	('other', '5/2/devB/old3', now() - interval '48 hours');
INSERT INTO cabinet_sync_bundle (object_name, cabinet_id, sender_osteopath_id, recipient_osteopath_id,
	recipient_device_tag, size_bytes) VALUES
	('5/2/devB/old1', 5, 1, 2, 'devB', 10), ('5/2/devB/fresh', 5, 1, 2, 'devB', 10),
	('5/2/devB/gone', 5, 1, 2, 'devB', 10), ('5/2/devB/gone2', 5, 1, 2, 'devB', 10);
ALTER TABLE cabinet_sync_bundle DISABLE TRIGGER cabsync_bundle_stamp;
UPDATE cabinet_sync_bundle SET created_at = now() - interval '30 hours', expires_at = now() - interval '6 hours'
	WHERE object_name IN ('5/2/devB/old1', '5/2/devB/gone');
ALTER TABLE cabinet_sync_bundle ENABLE TRIGGER cabsync_bundle_stamp;
SET storage.allow_delete_query = 'false';
SELECT t.ok(cabsync_private.sweep_expired() = 2, 'the sweep asks for the two expired objects');
SELECT t.ok((SELECT count(*) FROM net.http_request_queue) = 1, 'in one request');
SELECT t.ok((SELECT method = 'DELETE' AND url = 'https://example-ref.supabase.co/storage/v1/object/cabinet-sync'
	FROM net.http_request_queue), 'DELETE /storage/v1/object/cabinet-sync');
SELECT t.ok((SELECT convert_from(body, 'UTF8')::jsonb = '{"prefixes": ["5/2/devB/old1", "5/2/devB/old2"]}'
	FROM net.http_request_queue), 'the body names exactly the expired objects of the bucket');
SELECT t.ok((SELECT headers = '{"apikey": "eyJhbGciOiJIUzI1NiJ9.service.sig", "Content-Type": "application/json",
	"Authorization": "Bearer eyJhbGciOiJIUzI1NiJ9.service.sig"}' FROM net.http_request_queue),
	'a legacy service_role JWT goes in apikey and Authorization');
SELECT t.ok((SELECT array_agg(object_name ORDER BY object_name) FROM cabinet_sync_bundle)
	= ARRAY['5/2/devB/fresh', '5/2/devB/gone2'],
	'the swept objects'' rows and old rows without object are deleted, the others kept');
SELECT t.ok((SELECT count(*) FROM storage.objects WHERE name IN ('5/2/devB/old1', '5/2/devB/old2')) = 2,
	'the sweep never deletes storage.objects rows itself');

TRUNCATE net.http_request_queue;
UPDATE vault.secrets SET secret = 'sb_secret_abc' WHERE name = 'cabsync_service_key';
INSERT INTO storage.objects (bucket_id, name, created_at)
	SELECT 'cabinet-sync', format('5/2/devB/bulk%s', lpad(i::text, 5, '0')), now() - interval '2 days'
	FROM generate_series(1, 2498) i;
SELECT t.ok(cabsync_private.sweep_expired() = 2500, 'the sweep asks for all 2500 expired objects');
SELECT t.ok((SELECT array_agg(jsonb_array_length(convert_from(body, 'UTF8')::jsonb -> 'prefixes') ORDER BY id)
	FROM net.http_request_queue) = ARRAY[1000, 1000, 500], 'in calls of at most 1000 keys');
SELECT t.ok((SELECT bool_and(NOT headers ? 'Authorization' AND headers ->> 'apikey' = 'sb_secret_abc')
	FROM net.http_request_queue), 'an sb_secret_ key goes in apikey only');
SELECT t.ok((SELECT count(DISTINCT k) FROM net.http_request_queue,
	jsonb_array_elements_text(convert_from(body, 'UTF8')::jsonb -> 'prefixes') k) = 2500, 'no key twice');
TRUNCATE net.http_request_queue;
SELECT t.ok(cabsync_private.sweep_expired(2) = 2000, 'p_max_batches bounds one run');
TRUNCATE net.http_request_queue;
UPDATE cabsync_private.settings SET value = '1 hour' WHERE key = 'bundle_lifetime';
SELECT t.ok(cabsync_private.sweep_expired() = 2501, 'a shorter lifetime from the settings sweeps more');
SELECT t.ok((SELECT count(*) FROM net.http_request_queue, jsonb_array_elements_text(convert_from(body, 'UTF8')::jsonb -> 'prefixes') k
	WHERE k = '5/2/devB/fresh') = 1, 'including the object younger than 24 h');
SELECT t.ok((SELECT count(*) FROM cabinet_sync_bundle) = 1, 'a row younger than the lifetime stays even without its object');

-- the pg_cron job ------------------------------------------------------------
SELECT t.ok((SELECT count(*) FROM cron.job WHERE jobname = 'cabsync-relay-sweep'
	AND schedule = '*/15 * * * *' AND command = 'SELECT cabsync_private.sweep_expired()') = 1,
	'the sweep is scheduled every 15 min, once');

\o
\pset tuples_only on
SELECT format('pg_test: %s checks passed', count(*)) FROM t.passed;
