# tests/relay/pgcluster.sh: sourced by the relay tests. Starts a throw-away
# PostgreSQL 15 cluster in a temp dir, listening on a unix socket in that dir
# only (no TCP), run by an unprivileged user when we are root (CI), and
# removes it on exit, whatever happens.
#   pg_start   sets PGTMP, PGHOST, PGUSER=postgres (the cluster's superuser),
#              PGDATABASE=postgres; installs the EXIT trap.
#   pg_stop    stops the cluster and removes the dir (also run by the trap).

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}

pg_stop() {
	if [ -n "${PGTMP:-}" ] && [ -d "$PGTMP" ]; then
		if [ -f "$PGTMP/data/postmaster.pid" ]; then
			$PG_RUN "$PG_BIN/pg_ctl" -D "$PGTMP/data" -m immediate -w stop >/dev/null 2>&1 || true
		fi
		rm -rf "$PGTMP"
	fi
	PGTMP=
}

pg_start() {
	[ -x "$PG_BIN/initdb" ] || {
		echo "pgcluster: $PG_BIN/initdb missing (Debian package postgresql-15)" >&2
		exit 1
	}
	PGTMP=$(mktemp -d /tmp/cabsync-pg.XXXXXX)
	trap 'pg_stop' EXIT
	trap 'exit 130' INT TERM
	PG_RUN=
	if [ "$(id -u)" -eq 0 ]; then
		# initdb refuses to run as root: the package's postgres user, or nobody
		if id postgres >/dev/null 2>&1; then u=postgres; else u=nobody; fi
		chown "$u" "$PGTMP"
		PG_RUN="runuser -u $u --"
	fi
	if ! $PG_RUN "$PG_BIN/initdb" -D "$PGTMP/data" -U postgres -A trust -E UTF8 \
		--locale=C.UTF-8 --no-sync >"$PGTMP/initdb.log" 2>&1; then
		cat "$PGTMP/initdb.log" >&2
		exit 1
	fi
	if ! $PG_RUN "$PG_BIN/pg_ctl" -D "$PGTMP/data" -l "$PGTMP/server.log" -w -t 30 \
		-o "-c listen_addresses='' -c unix_socket_directories='$PGTMP' -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=40" \
		start >/dev/null; then
		cat "$PGTMP/server.log" >&2
		exit 1
	fi
	export PGHOST="$PGTMP" PGUSER=postgres PGDATABASE=postgres
	unset PGPORT PGPASSWORD PGSERVICE || true
}
