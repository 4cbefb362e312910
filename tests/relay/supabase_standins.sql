-- tests/relay/supabase_standins.sql: MINIMAL STAND-INS for the parts of a
-- Supabase project that sql/supabase/migration.sql relies on, so that the
-- migration can be tested on a plain PostgreSQL 15. NOT a copy of Supabase:
-- written from Supabase's published schema (supabase/auth and supabase/storage
-- migrations, pg_net's and supabase/vault's SQL API, pg_cron's cron.schedule),
-- keeping only the objects, columns and semantics the migration and the test
-- server touch:
--   roles      anon, authenticated (NOLOGIN), service_role (BYPASSRLS),
--              authenticator (LOGIN NOINHERIT, may SET ROLE to the three),
--              as PostgREST and Storage connect;
--   auth       auth.users (the columns the test server needs), auth.uid(),
--              auth.role(), auth.jwt() reading request.jwt.claim(s) exactly
--              as Supabase's definitions do;
--   storage    storage.buckets, storage.objects with their real columns
--              (path_tokens generated, unique (bucket_id, name)),
--              storage.foldername/filename/extension, RLS enabled on objects,
--              and the statement trigger that refuses a plain SQL DELETE
--              unless storage.allow_delete_query is set (storage PR #817);
--   net        net.http_delete(url, params, headers, timeout_milliseconds,
--              body) of pg_net >= 0.15 that only RECORDS the request in
--              net.http_request_queue (no HTTP is made);
--   vault      vault.secrets, vault.create_secret(), vault.decrypted_secrets
--              (no encryption: a stand-in);
--   cron       cron.job and cron.schedule(job_name, schedule, command) that
--              upserts by name like pg_cron >= 1.3 (nothing is ever run).
-- Supabase's default privileges (everything in public granted to anon,
-- authenticated, service_role) are reproduced, so that the migration has to
-- rely on RLS, as on a real project.

DO $$
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'anon') THEN
		CREATE ROLE anon NOLOGIN NOINHERIT;
	END IF;
	IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'authenticated') THEN
		CREATE ROLE authenticated NOLOGIN NOINHERIT;
	END IF;
	IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'service_role') THEN
		CREATE ROLE service_role NOLOGIN NOINHERIT BYPASSRLS;
	END IF;
	IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'authenticator') THEN
		CREATE ROLE authenticator LOGIN NOINHERIT;
	END IF;
END
$$;
GRANT anon, authenticated, service_role TO authenticator;

GRANT USAGE ON SCHEMA public TO anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES IN SCHEMA public
	GRANT ALL ON TABLES TO anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES IN SCHEMA public
	GRANT ALL ON FUNCTIONS TO anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES IN SCHEMA public
	GRANT ALL ON SEQUENCES TO anon, authenticated, service_role;

-- auth -------------------------------------------------------------------
CREATE SCHEMA IF NOT EXISTS auth;
GRANT USAGE ON SCHEMA auth TO anon, authenticated, service_role;

CREATE TABLE IF NOT EXISTS auth.users (
	instance_id uuid,
	id uuid PRIMARY KEY,
	aud varchar(255),
	role varchar(255),
	email varchar(255) UNIQUE,
	encrypted_password varchar(255),
	created_at timestamptz DEFAULT now(),
	updated_at timestamptz DEFAULT now()
);

-- Supabase's definitions: the newer request.jwt.claims GUC, with the
-- older per-claim GUC first.
CREATE OR REPLACE FUNCTION auth.uid() RETURNS uuid
LANGUAGE sql STABLE AS $$
	SELECT coalesce(
		nullif(current_setting('request.jwt.claim.sub', true), ''),
		(nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub')
	)::uuid
$$;

CREATE OR REPLACE FUNCTION auth.role() RETURNS text
LANGUAGE sql STABLE AS $$
	SELECT coalesce(
		nullif(current_setting('request.jwt.claim.role', true), ''),
		(nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'role')
	)::text
$$;

CREATE OR REPLACE FUNCTION auth.jwt() RETURNS jsonb
LANGUAGE sql STABLE AS $$
	SELECT coalesce(
		nullif(current_setting('request.jwt.claim', true), ''),
		nullif(current_setting('request.jwt.claims', true), '')
	)::jsonb
$$;
GRANT EXECUTE ON FUNCTION auth.uid(), auth.role(), auth.jwt()
	TO anon, authenticated, service_role;

-- storage ----------------------------------------------------------------
CREATE SCHEMA IF NOT EXISTS storage;
GRANT USAGE ON SCHEMA storage TO anon, authenticated, service_role;

CREATE TABLE IF NOT EXISTS storage.buckets (
	id text PRIMARY KEY,
	name text NOT NULL,
	owner uuid,
	created_at timestamptz DEFAULT now(),
	updated_at timestamptz DEFAULT now(),
	public boolean DEFAULT false,
	avif_autodetection boolean DEFAULT false,
	file_size_limit bigint,
	allowed_mime_types text[],
	owner_id text
);
CREATE UNIQUE INDEX IF NOT EXISTS bname ON storage.buckets (name);

CREATE TABLE IF NOT EXISTS storage.objects (
	id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	bucket_id text REFERENCES storage.buckets (id),
	name text,
	owner uuid,
	created_at timestamptz DEFAULT now(),
	updated_at timestamptz DEFAULT now(),
	last_accessed_at timestamptz DEFAULT now(),
	metadata jsonb,
	path_tokens text[] GENERATED ALWAYS AS (string_to_array(name, '/')) STORED,
	version text,
	owner_id text,
	user_metadata jsonb
);
CREATE UNIQUE INDEX IF NOT EXISTS bucketid_objname ON storage.objects (bucket_id, name);
CREATE INDEX IF NOT EXISTS name_prefix_search ON storage.objects (name text_pattern_ops);
ALTER TABLE storage.buckets ENABLE ROW LEVEL SECURITY;
ALTER TABLE storage.objects ENABLE ROW LEVEL SECURITY;
GRANT ALL ON storage.buckets, storage.objects TO anon, authenticated, service_role;

CREATE OR REPLACE FUNCTION storage.foldername(name text) RETURNS text[]
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
	_parts text[];
BEGIN
	SELECT string_to_array(name, '/') INTO _parts;
	RETURN _parts[1:array_length(_parts, 1) - 1];
END
$$;

CREATE OR REPLACE FUNCTION storage.filename(name text) RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
	_parts text[];
BEGIN
	SELECT string_to_array(name, '/') INTO _parts;
	RETURN _parts[array_length(_parts, 1)];
END
$$;

CREATE OR REPLACE FUNCTION storage.extension(name text) RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
	_parts text[];
	_filename text;
BEGIN
	SELECT string_to_array(name, '/') INTO _parts;
	SELECT _parts[array_length(_parts, 1)] INTO _filename;
	RETURN reverse(split_part(reverse(_filename), '.', 1));
END
$$;
GRANT EXECUTE ON FUNCTION storage.foldername(text), storage.filename(text),
	storage.extension(text) TO anon, authenticated, service_role;

-- A plain SQL DELETE would orphan the object's bytes: the Storage API sets
-- storage.allow_delete_query for its own deletes.
CREATE OR REPLACE FUNCTION storage.protect_delete() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	IF coalesce(current_setting('storage.allow_delete_query', true), 'false') <> 'true' THEN
		RAISE EXCEPTION 'Direct deletion from storage tables is not allowed. Use the Storage API instead.'
			USING ERRCODE = '42501';
	END IF;
	RETURN NULL;
END
$$;
DROP TRIGGER IF EXISTS protect_objects_delete ON storage.objects;
CREATE TRIGGER protect_objects_delete BEFORE DELETE ON storage.objects
	FOR EACH STATEMENT EXECUTE FUNCTION storage.protect_delete();
DROP TRIGGER IF EXISTS protect_buckets_delete ON storage.buckets;
CREATE TRIGGER protect_buckets_delete BEFORE DELETE ON storage.buckets
	FOR EACH STATEMENT EXECUTE FUNCTION storage.protect_delete();

-- net (pg_net >= 0.15 signature; records instead of sending) --------------
CREATE SCHEMA IF NOT EXISTS net;
CREATE TABLE IF NOT EXISTS net.http_request_queue (
	id bigserial PRIMARY KEY,
	method text NOT NULL,
	url text NOT NULL,
	headers jsonb NOT NULL,
	body bytea,
	timeout_milliseconds integer NOT NULL
);

CREATE OR REPLACE FUNCTION net.http_delete(
	url text,
	params jsonb DEFAULT '{}'::jsonb,
	headers jsonb DEFAULT '{}'::jsonb,
	timeout_milliseconds int DEFAULT 5000,
	body jsonb DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql VOLATILE AS $$
DECLARE
	request_id bigint;
BEGIN
	INSERT INTO net.http_request_queue (method, url, headers, body, timeout_milliseconds)
	VALUES ('DELETE', url, headers, convert_to(body::text, 'UTF8'), timeout_milliseconds)
	RETURNING id INTO request_id;
	RETURN request_id;
END
$$;
REVOKE ALL ON FUNCTION net.http_delete(text, jsonb, jsonb, int, jsonb) FROM PUBLIC;

-- vault ------------------------------------------------------------------
CREATE SCHEMA IF NOT EXISTS vault;
CREATE TABLE IF NOT EXISTS vault.secrets (
	id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	name text UNIQUE,
	description text NOT NULL DEFAULT '',
	secret text NOT NULL,
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE OR REPLACE VIEW vault.decrypted_secrets AS
	SELECT id, name, description, secret, secret AS decrypted_secret,
		created_at, updated_at
	FROM vault.secrets;
CREATE OR REPLACE FUNCTION vault.create_secret(new_secret text,
	new_name text DEFAULT NULL, new_description text DEFAULT '')
RETURNS uuid LANGUAGE sql AS $$
	INSERT INTO vault.secrets (secret, name, description)
	VALUES (new_secret, new_name, new_description) RETURNING id
$$;
REVOKE ALL ON SCHEMA vault FROM PUBLIC;

-- cron (pg_cron's job table and schedule-by-name; nothing runs) ----------
CREATE SCHEMA IF NOT EXISTS cron;
CREATE TABLE IF NOT EXISTS cron.job (
	jobid bigserial PRIMARY KEY,
	schedule text NOT NULL,
	command text NOT NULL,
	jobname text UNIQUE,
	username text NOT NULL DEFAULT current_user,
	active boolean NOT NULL DEFAULT true
);
CREATE OR REPLACE FUNCTION cron.schedule(job_name text, schedule text, command text)
RETURNS bigint LANGUAGE sql AS $$
	INSERT INTO cron.job (jobname, schedule, command) VALUES (job_name, schedule, command)
	ON CONFLICT (jobname) DO UPDATE SET schedule = EXCLUDED.schedule,
		command = EXCLUDED.command
	RETURNING jobid
$$;
REVOKE ALL ON SCHEMA cron FROM PUBLIC;
