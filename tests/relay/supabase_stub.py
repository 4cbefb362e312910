#!/usr/bin/python3
"""tests/relay/supabase_stub.py: a TEST STAND-IN for the parts of a hosted
Supabase project that cabsync's relay client talks to (issue 7 §4). It is
not Supabase: it implements exactly the endpoints the client uses, with the
status codes, headers and JSON error bodies of shared/supabase-api.md, and
runs every read and write of a user through a real PostgreSQL (the
migration's tables and Supabase stand-ins) with SET LOCAL ROLE and
request.jwt.claims, so that the migration's RLS policies -- not this
server -- decide what a caller may do. What it does not do: docs/RELAY.md,
"Test server".

  /auth/v1     POST token?grant_type=password|refresh_token, GET user,
               POST logout?scope=global|local|others
  /rest/v1     GET/POST/PATCH/DELETE on cabinet_patient_sync and
               cabinet_sync_bundle (filters eq neq gt gte lt lte like ilike
               is in, select, order, limit, offset, on_conflict, Prefer
               return=/resolution=/count=exact, Accept object+json)
  /storage/v1  POST/PUT object/{bucket}/{path} (upload, x-upsert),
               GET object[/authenticated]/{bucket}/{path} (download, Range),
               POST object/list/{bucket}, DELETE object/{bucket}/{path},
               DELETE object/{bucket} {"prefixes": [...]}
  /admin       test hooks (no auth; loopback only): POST users, fault,
               expire-tokens, age; GET/DELETE log; GET health

Usage: supabase_stub.py --dsn DSN --dir DIR [--port 0] [--ready FILE]
  [--jwt-exp SECONDS]. DSN is the cluster's superuser (for Auth's own
  tables and the admin hooks); user requests connect as role
  `authenticator` (as PostgREST does) and SET LOCAL ROLE. The ready file
  gets {"url","anon_key","publishable_key","service_key","secret_key","pid"}.
"""

import argparse
import base64
import email.utils
import hashlib
import hmac
import json
import os
import re
import secrets
import socket
import sys
import threading
import time
import uuid
from datetime import timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, unquote, urlsplit

import psycopg2
import psycopg2.errors
import psycopg2.pool
from psycopg2 import sql as pgsql

TABLES = ("cabinet_patient_sync", "cabinet_sync_bundle")
MAX_BODY = 256 << 20  # the stub's own cap on a chunked upload
ROLES = ("anon", "authenticated", "service_role")


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def b64u_dec(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def iso(dt):
    if dt is None:
        return None
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class Drop(Exception):
    """Close the connection without an answer (fault hook)."""


class Reply(Exception):
    """An HTTP answer raised from deep inside a handler."""

    def __init__(self, status, body, headers=None):
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = headers or {}


def storage_error(code_in_body, error, message, code, http=None):
    # Storage answers HTTP 400 for every error whose statusCode is not 500
    # (supabase-api.md §3.2), with the real code as a string in the body.
    if http is None:
        http = 500 if code_in_body == "500" else 400
    return Reply(http, {"statusCode": code_in_body, "error": error, "message": message, "code": code})


def auth_error(status, error_code, msg):
    return Reply(status, {"code": status, "error_code": error_code, "msg": msg})


def rest_error(status, code, message, details=None, hint=None, headers=None):
    return Reply(status, {"code": code, "details": details, "hint": hint, "message": message}, headers)


class State:
    def __init__(self, args, admin_dsn, user_dsn):
        self.args = args
        self.lock = threading.Lock()
        self.secret = secrets.token_bytes(32)
        self.serial = 0  # access token serial number (claim "jti")
        self.expired_upto = 0  # tokens with jti <= this are expired
        self.sessions = {}  # session id -> {"user": uuid, "alive": bool}
        self.refresh = {}  # refresh token -> {"session": id, "used": bool}
        if args.state and os.path.exists(args.state):
            # a restarted server: same keys, sessions and tokens
            with open(args.state) as f:
                saved = json.load(f)
            self.secret = bytes.fromhex(saved["secret"])
            self.serial = saved["serial"]
            self.expired_upto = saved["expired_upto"]
            self.sessions = saved["sessions"]
            self.refresh = saved["refresh"]
        self.faults = []
        self.log = []
        self.objdir = os.path.join(args.dir, "objects")
        os.makedirs(self.objdir, exist_ok=True)
        # the API keys derive from the secret: a restarted server keeps them
        self.anon_key = self.sign({"iss": "supabase", "role": "anon", "iat": 1767225600, "exp": 2082758400})
        self.service_key = self.sign({"iss": "supabase", "role": "service_role", "iat": 1767225600,
                                      "exp": 2082758400})
        self.publishable_key = "sb_publishable_" + b64u(hmac.new(self.secret, b"publishable", "sha256").digest()[:18])
        self.secret_key = "sb_secret_" + b64u(hmac.new(self.secret, b"secret", "sha256").digest()[:18])
        self.save()
        self.admin_dsn = admin_dsn
        AdminCursor.pool = psycopg2.pool.ThreadedConnectionPool(1, 4, admin_dsn)
        self.pool = psycopg2.pool.ThreadedConnectionPool(1, 12, user_dsn)
        self.columns = {}
        with self.admin() as cur:
            for t in TABLES:
                cur.execute(
                    "SELECT column_name FROM information_schema.columns "
                    "WHERE table_schema = 'public' AND table_name = %s ORDER BY ordinal_position",
                    (t,),
                )
                self.columns[t] = [r[0] for r in cur.fetchall()]

    def save(self):
        """Writes the auth state to --state (atomically); caller holds no
        lock or the lock."""
        if not self.args.state:
            return
        data = {"secret": self.secret.hex(), "serial": self.serial, "expired_upto": self.expired_upto,
                "sessions": self.sessions, "refresh": self.refresh}
        tmp = self.args.state + ".tmp"
        with open(tmp, "w") as f:
            json.dump(data, f)
        os.replace(tmp, self.args.state)

    # -- JWT (HS256, the stub's own secret) --
    def sign(self, claims):
        head = b64u(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
        body = b64u(json.dumps(claims, separators=(",", ":")).encode())
        mac = hmac.new(self.secret, (head + "." + body).encode(), hashlib.sha256).digest()
        return head + "." + body + "." + b64u(mac)

    def verify(self, token):
        """Returns (claims, None) or (None, "invalid"|"expired")."""
        try:
            head, body, sig = token.split(".")
            mac = hmac.new(self.secret, (head + "." + body).encode(), hashlib.sha256).digest()
            if not hmac.compare_digest(mac, b64u_dec(sig)):
                return None, "invalid"
            claims = json.loads(b64u_dec(body))
        except (ValueError, TypeError):
            return None, "invalid"
        if not isinstance(claims, dict) or claims.get("role") not in ROLES:
            return None, "invalid"
        if int(claims.get("exp", 0)) <= time.time():
            return None, "expired"
        jti = claims.get("jti")
        if jti is not None and int(jti) <= self.expired_upto:
            return None, "expired"
        return claims, None

    def issue(self, user_id, email_addr, session_id):
        with self.lock:
            self.serial += 1
            jti = self.serial
            rt = secrets.token_urlsafe(24)
            self.refresh[rt] = {"session": session_id, "used": False}
            self.save()
        now = int(time.time())
        exp = now + self.args.jwt_exp
        claims = {
            "aud": "authenticated",
            "exp": exp,
            "iat": now,
            "iss": "stub/auth/v1",
            "sub": user_id,
            "email": email_addr,
            "role": "authenticated",
            "session_id": session_id,
            "jti": str(jti),
        }
        return {
            "access_token": self.sign(claims),
            "token_type": "bearer",
            "expires_in": self.args.jwt_exp,
            "expires_at": exp,
            "refresh_token": rt,
            "user": {"id": user_id, "aud": "authenticated", "role": "authenticated", "email": email_addr},
        }

    # -- database --
    def admin(self):
        return AdminCursor(self.admin_dsn)

    def as_role(self, claims, fn, storage=False):
        """Runs fn(cur) in one transaction as the caller (SET LOCAL ROLE,
        request.jwt.claims); returns its result."""
        try:
            conn = self.pool.getconn()
        except psycopg2.Error as e:
            raise Reply(503, {"code": "PGRST000", "details": str(e).strip(), "hint": None,
                              "message": "Database connection error. Retrying the connection."})
        broken = False
        try:
            with conn:
                with conn.cursor() as cur:
                    cur.execute(pgsql.SQL("SET LOCAL ROLE {}").format(pgsql.Identifier(claims["role"])))
                    cur.execute("SELECT set_config('request.jwt.claims', %s, true)", (json.dumps(claims),))
                    if storage:
                        cur.execute("SELECT set_config('storage.allow_delete_query', 'true', true)")
                    return fn(cur)
        except (psycopg2.OperationalError, psycopg2.InterfaceError):
            broken = True
            raise
        finally:
            self.pool.putconn(conn, close=broken or conn.closed != 0)


class AdminCursor:
    """A transaction on a pooled superuser connection (Auth's own tables,
    bucket settings, the admin hooks)."""

    pool = None

    def __init__(self, dsn):
        pass

    def __enter__(self):
        self.conn = AdminCursor.pool.getconn()
        self.cur = self.conn.cursor()
        return self.cur

    def __exit__(self, et, ev, tb):
        broken = False
        try:
            if et is None:
                self.conn.commit()
            else:
                self.conn.rollback()
        except psycopg2.Error:
            broken = True
        finally:
            AdminCursor.pool.putconn(self.conn, close=broken or self.conn.closed != 0)
        return False


def hash_password(pw, salt=None):
    salt = salt or secrets.token_hex(8)
    h = hashlib.pbkdf2_hmac("sha256", pw.encode(), salt.encode(), 1000).hex()
    return "pbkdf2$" + salt + "$" + h


def check_password(pw, stored):
    try:
        _, salt, _h = stored.split("$")
    except (ValueError, AttributeError):
        return False
    return hmac.compare_digest(hash_password(pw, salt), stored)


def pg_reply(e, role):
    """A PostgREST error body for a database error."""
    code = e.pgcode or "XX000"
    diag = e.diag
    msg = diag.message_primary or str(e).strip()
    if code in ("23505", "23503"):
        status = 409
    elif code == "42501":
        status = 403 if role == "authenticated" else 401
    elif code.startswith("08") or code.startswith("53"):
        status = 503
    elif code[:2] in ("22", "23", "42") or code == "P0001":
        status = 400
    else:
        status = 500
    return rest_error(status, code, msg, diag.message_detail, diag.message_hint)


def storage_db_reply(e):
    code = e.pgcode or ""
    if code == "23505":
        return storage_error("409", "Duplicate", "The resource already exists", "KeyAlreadyExists")
    if code == "42501":
        return storage_error("403", "Unauthorized", "new row violates row-level security policy", "AccessDenied")
    if code.startswith("08") or code.startswith("53"):
        return storage_error("503", "DatabaseError", "database unavailable", "DatabaseError")
    return storage_error("500", "internal", "Internal Server Error", "InternalError")


FILTER_OPS = {"eq": "=", "neq": "<>", "gt": ">", "gte": ">=", "lt": "<", "lte": "<=", "like": "LIKE", "ilike": "ILIKE"}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "cabsync-supabase-stub"
    sys_version = ""
    st = None  # State

    def setup(self):
        super().setup()
        # headers and body go out in separate writes: no Nagle delay
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, fmt, *args):  # quiet
        if self.st.args.verbose:
            sys.stderr.write("stub: " + (fmt % args) + "\n")

    # -- plumbing --
    def send(self, status, body=None, headers=None, ctype="application/json; charset=utf-8"):
        if isinstance(body, (dict, list)):
            data = json.dumps(body).encode()
        elif isinstance(body, str):
            data = body.encode()
        elif body is None:
            data = b""
        else:
            data = body
        self.send_response(status)
        if data or status not in (204, 304):
            self.send_header("Content-Type", ctype)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        self.status_sent = status

    def body_len(self):
        cl = self.headers.get("Content-Length")
        if cl is None:
            return None
        try:
            n = int(cl)
        except ValueError:
            raise Reply(400, {"statusCode": 400, "error": "Bad Request", "message": "invalid content-length"})
        if n < 0:
            raise Reply(400, {"statusCode": 400, "error": "Bad Request", "message": "invalid content-length"})
        return n

    def chunked(self):
        return "chunked" in self.headers.get("Transfer-Encoding", "").lower()

    def read_chunks(self, sink, cap):
        """Reads a chunked body into sink(bytes); returns its size."""
        total = 0
        while True:
            line = self.rfile.readline(1024)
            if not line:
                raise Drop()
            try:
                n = int(line.split(b";")[0].strip(), 16)
            except ValueError:
                raise Drop()
            if n == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass
                return total
            total += n
            if total > cap:
                raise Drop()
            left = n
            while left:
                b = self.rfile.read(min(left, 65536))
                if not b:
                    raise Drop()
                sink(b)
                left -= len(b)
            self.rfile.readline(16)

    def read_body(self, cap=16 << 20):
        self.body_read = True
        if self.chunked():
            parts = []
            self.read_chunks(parts.append, cap)
            return b"".join(parts)
        n = self.body_len() or 0
        if n > cap:
            self.close_connection = True
            raise Reply(413, {"message": "request body too large"})
        data = self.rfile.read(n)
        if len(data) != n:
            raise Drop()
        return data

    def json_body(self, cap=16 << 20):
        raw = self.read_body(cap)
        if not raw:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            raise Reply(400, {"code": "PGRST102", "details": None, "hint": None, "message": "Empty or invalid json"})

    def drain(self):
        """Consumes an unread request body so the connection stays usable."""
        if self.body_read:
            return
        self.body_read = True
        if self.chunked():
            self.read_chunks(lambda b: None, MAX_BODY)
            return
        n = self.body_len() or 0
        while n > 0:
            b = self.rfile.read(min(n, 65536))
            if not b:
                raise Drop()
            n -= len(b)

    # -- dispatch --
    def handle_any(self):
        self.body_read = False
        self.status_sent = None
        self.fault = None
        split = urlsplit(self.path)
        path = split.path
        self.query = parse_qsl(split.query, keep_blank_values=True)
        entry = {"method": self.command, "path": path, "query": split.query, "t": time.time(),
                 "chunked": self.chunked(), "content_length": self.headers.get("Content-Length")}
        try:
            try:
                if not path.startswith("/admin/"):
                    self.fault = self.take_fault(path)
                    if self.fault is not None:
                        self.apply_fault(self.fault)
                if path.startswith("/admin/"):
                    self.admin(path)
                elif path.startswith("/auth/v1/"):
                    self.gateway()
                    self.auth(path[len("/auth/v1"):])
                elif path.startswith("/rest/v1/"):
                    self.gateway()
                    self.rest(path[len("/rest/v1/"):])
                elif path.startswith("/storage/v1/"):
                    self.gateway()
                    self.storage(path[len("/storage/v1"):])
                else:
                    self.not_found(path)
            except Reply as r:
                try:
                    self.drain()
                except Drop:
                    raise
                except Reply:
                    self.close_connection = True
                hdrs = dict(r.headers)
                ctype = hdrs.pop("Content-Type", "application/json; charset=utf-8")
                self.send(r.status, r.body, hdrs, ctype)
            except psycopg2.Error as e:
                self.drain()
                if path.startswith("/storage/"):
                    r = storage_db_reply(e)
                elif path.startswith("/auth/"):
                    r = auth_error(500, "unexpected_failure", "Database error querying schema")
                else:
                    r = pg_reply(e, "authenticated")
                self.send(r.status, r.body, r.headers)
        except Drop:
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            entry["status"] = "dropped"
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
            entry["status"] = "client closed"
        else:
            entry["status"] = self.status_sent
        if not path.startswith("/admin/"):
            with self.st.lock:
                self.st.log.append(entry)
                del self.st.log[:-2000]

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = handle_any

    def not_found(self, path):
        raise Reply(404, {"message": "Route %s:%s not found" % (self.command, path), "error": "Not Found",
                          "statusCode": 404})

    def take_fault(self, path):
        with self.st.lock:
            for f in self.st.faults:
                if path.startswith(f.get("path", "/")) and (f.get("method") in (None, self.command)):
                    f["count"] -= 1
                    if f["count"] <= 0:
                        self.st.faults.remove(f)
                    return f
        return None

    def apply_fault(self, f):
        kind = f.get("kind", "status")
        if kind == "status":
            status = int(f.get("status", 503))
            self.close_connection = False
            body = f.get("body", "upstream unavailable\n")
            self.drain()
            raise Reply(status, body, {"Content-Type": "text/plain"} if isinstance(body, str) else {})
        if kind == "close":  # close before reading the body: no answer
            raise Drop()
        if kind == "drop":
            # read half of the request body, then close; a download sends
            # half of the object instead (handled there)
            if self.command == "GET":
                return
            n = self.body_len()
            if n:
                self.rfile.read(n // 2)
            raise Drop()
        if kind == "delay":
            time.sleep(min(float(f.get("seconds", 1)), 30))
            return
        raise Reply(500, {"message": "unknown fault kind"})

    # -- /admin --
    def admin(self, path):
        if self.command == "GET" and path == "/admin/health":
            return self.send(200, {"ok": True})
        if path == "/admin/log":
            if self.command == "GET":
                with self.st.lock:
                    return self.send(200, list(self.st.log))
            if self.command == "DELETE":
                with self.st.lock:
                    self.st.log.clear()
                return self.send(204)
        if self.command != "POST":
            self.not_found(path)
        body = self.json_body() or {}
        if path == "/admin/users":
            uid = body.get("id") or str(uuid.uuid4())
            with self.st.admin() as cur:
                cur.execute(
                    "INSERT INTO auth.users (id, aud, role, email, encrypted_password) "
                    "VALUES (%s, 'authenticated', 'authenticated', %s, %s)",
                    (uid, body["email"], hash_password(body["password"])),
                )
            return self.send(200, {"id": uid})
        if path == "/admin/fault":
            f = {"kind": body.get("kind", "status"), "count": int(body.get("count", 1))}
            for k in ("status", "path", "method", "seconds", "body"):
                if k in body:
                    f[k] = body[k]
            with self.st.lock:
                self.st.faults.append(f)
            return self.send(200, f)
        if path == "/admin/expire-tokens":
            with self.st.lock:
                self.st.expired_upto = self.st.serial
                self.st.save()
            return self.send(200, {"expired_upto": self.st.expired_upto})
        if path == "/admin/age":
            with self.st.admin() as cur:
                cur.execute(
                    "UPDATE storage.objects SET created_at = created_at - make_interval(secs => %s) "
                    "WHERE bucket_id = %s AND name = %s",
                    (float(body["seconds"]), body.get("bucket", "cabinet-sync"), body["name"]),
                )
                n = cur.rowcount
            return self.send(200, {"updated": n})
        self.not_found(path)

    # -- the hosted gateway: apikey --
    def gateway(self):
        key = self.headers.get("apikey")
        if key is None:
            raise Reply(401, {"message": "No API key found in request",
                              "hint": "No `apikey` request header or url param was found."})
        st = self.st
        if key in (st.publishable_key, st.anon_key):
            self.key_role = "anon"
        elif key in (st.secret_key, st.service_key):
            self.key_role = "service_role"
        else:
            raise Reply(401, {"message": "Invalid API key",
                              "hint": "Double check your Supabase `anon` or `service_role` API key."})

    def bearer(self):
        h = self.headers.get("Authorization")
        if h is None:
            return None
        if not h.startswith("Bearer "):
            return ""
        return h[len("Bearer "):].strip()

    def caller(self, api):
        """The claims the request runs with; raises the API's error."""
        tok = self.bearer()
        if tok is None:
            if api == "storage":
                raise storage_error("400", "Error", "headers must have required property 'authorization'",
                                    "InvalidRequest")
            return {"role": self.key_role}
        key = self.headers.get("apikey")
        if tok == key and not tok.startswith("eyJ"):
            return {"role": self.key_role}  # new-style keys may repeat apikey
        claims, err = self.st.verify(tok)
        if err is None:
            return claims
        if api == "storage":
            if err == "expired":
                raise storage_error("403", "Unauthorized", '"exp" claim timestamp check failed', "AccessDenied")
            raise storage_error("403", "Unauthorized", "signature verification failed", "AccessDenied")
        if err == "expired":
            raise rest_error(401, "PGRST303", "JWT expired",
                             headers={"WWW-Authenticate": 'Bearer error="invalid_token", error_description="JWT expired"'})
        raise rest_error(401, "PGRST301", "JWT could not be decoded",
                         headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})

    # -- /auth/v1 --
    def auth(self, path):
        st = self.st
        q = dict(self.query)
        if path == "/token" and self.command == "POST":
            body = self.json_body()
            if not isinstance(body, dict):
                raise auth_error(400, "validation_failed", "Could not parse request body as JSON")
            grant = q.get("grant_type")
            if grant == "password":
                em, pw = body.get("email"), body.get("password")
                if not isinstance(em, str) or not isinstance(pw, str):
                    raise auth_error(400, "validation_failed", "missing email or phone")
                with st.admin() as cur:
                    cur.execute("SELECT id::text, encrypted_password FROM auth.users WHERE email = %s", (em,))
                    row = cur.fetchone()
                if row is None or not check_password(pw, row[1]):
                    raise auth_error(400, "invalid_credentials", "Invalid login credentials")
                sid = str(uuid.uuid4())
                with st.lock:
                    st.sessions[sid] = {"user": row[0], "email": em, "alive": True}
                return self.send(200, st.issue(row[0], em, sid))
            if grant == "refresh_token":
                rt = body.get("refresh_token")
                with st.lock:
                    ent = st.refresh.get(rt) if isinstance(rt, str) else None
                    if ent is None:
                        err = ("refresh_token_not_found", "Invalid Refresh Token: Refresh Token Not Found")
                    elif not st.sessions[ent["session"]]["alive"]:
                        err = ("session_not_found", "Invalid Refresh Token: Session Not Found")
                    elif ent["used"]:
                        # reuse of a rotated token: the session family is revoked
                        st.sessions[ent["session"]]["alive"] = False
                        err = ("refresh_token_already_used", "Invalid Refresh Token: Already Used")
                    else:
                        ent["used"] = True
                        err = None
                        sess = st.sessions[ent["session"]]
                    st.save()
                if err:
                    raise auth_error(400, *err)
                return self.send(200, st.issue(sess["user"], sess["email"], ent["session"]))
            raise auth_error(400, "validation_failed", "unsupported_grant_type")
        if path == "/user" and self.command == "GET":
            sess = self.auth_session()
            return self.send(200, {"id": sess["user"], "aud": "authenticated", "role": "authenticated",
                                   "email": sess["email"]})
        if path == "/logout" and self.command == "POST":
            sess = self.auth_session()
            scope = q.get("scope", "global")
            with st.lock:
                for sid, s in st.sessions.items():
                    if s["user"] != sess["user"]:
                        continue
                    mine = sid == sess["id"]
                    if scope == "global" or (scope == "local" and mine) or (scope == "others" and not mine):
                        s["alive"] = False
                st.save()
            self.drain()
            return self.send(204)
        self.not_found("/auth/v1" + path)

    def auth_session(self):
        tok = self.bearer()
        if not tok:
            raise auth_error(401, "no_authorization", "This endpoint requires a valid Bearer token")
        claims, err = self.st.verify(tok)
        if err == "expired":
            raise auth_error(403, "bad_jwt", "invalid JWT: unable to parse or verify signature, token has "
                             "invalid claims: token is expired")
        if err or claims.get("role") != "authenticated":
            raise auth_error(403, "bad_jwt", "invalid JWT: unable to parse or verify signature")
        sid = claims.get("session_id")
        with self.st.lock:
            s = self.st.sessions.get(sid)
            if s is None or not s["alive"]:
                raise auth_error(403, "session_not_found", "Session from session_id claim in JWT does not exist")
            return dict(s, id=sid)

    # -- /rest/v1 (PostgREST) --
    def rest(self, table):
        if table not in TABLES:
            raise rest_error(404, "PGRST205", "Could not find the table 'public.%s' in the schema cache" % table)
        claims = self.caller("rest")
        cols = self.st.columns[table]
        prefer = {}
        for part in self.headers.get("Prefer", "").split(","):
            if "=" in part:
                k, v = part.strip().split("=", 1)
                prefer[k] = v
        select = None
        order = []
        limit = offset = None
        on_conflict = None
        where = []
        params = []

        def col(c):
            if c not in cols:
                raise rest_error(400, "42703", "column %s.%s does not exist" % (table, c))
            return pgsql.Identifier(c)

        for k, v in self.query:
            if k == "select":
                if v.strip() == "*":
                    select = None
                else:
                    select = [col(c.strip()) for c in v.split(",") if c.strip()]
            elif k == "order":
                for term in v.split(","):
                    bits = term.split(".")
                    o = pgsql.SQL("{} {}").format(col(bits[0]), pgsql.SQL(
                        "DESC" if "desc" in bits[1:] else "ASC"))
                    if "nullsfirst" in bits[1:]:
                        o = pgsql.SQL("{} NULLS FIRST").format(o)
                    elif "nullslast" in bits[1:]:
                        o = pgsql.SQL("{} NULLS LAST").format(o)
                    order.append(o)
            elif k in ("limit", "offset"):
                try:
                    n = int(v)
                except ValueError:
                    raise rest_error(400, "PGRST100", "\"failed to parse %s parameter (%s)\"" % (k, v))
                if k == "limit":
                    limit = n
                else:
                    offset = n
            elif k == "on_conflict":
                on_conflict = [col(c.strip()) for c in v.split(",")]
            elif k == "columns":
                pass
            else:
                op, _, val = v.partition(".")
                if op in FILTER_OPS:
                    where.append(pgsql.SQL("{} " + FILTER_OPS[op] + " %s").format(col(k)))
                    params.append(val.replace("*", "%") if op in ("like", "ilike") else val)
                elif op == "is" and val in ("null", "true", "false"):
                    where.append(pgsql.SQL("{} IS " + val.upper()).format(col(k)))
                elif op == "in" and val.startswith("(") and val.endswith(")"):
                    items = [x.strip().strip('"') for x in val[1:-1].split(",") if x.strip()]
                    if not items:
                        where.append(pgsql.SQL("false"))
                    else:
                        where.append(pgsql.SQL("{} IN ({})").format(
                            col(k), pgsql.SQL(", ").join(pgsql.Placeholder() * len(items))))
                        params.extend(items)
                else:
                    raise rest_error(400, "PGRST100", "\"failed to parse filter (%s)\" (line 1, column 1)" % v)

        tbl = pgsql.Identifier("public", table)
        wsql = pgsql.SQL(" WHERE ") + pgsql.SQL(" AND ").join(where) if where else pgsql.SQL("")
        sel = pgsql.SQL(", ").join(select) if select else pgsql.SQL("*")
        self.sel = sel
        representation = prefer.get("return") == "representation"
        single = "application/vnd.pgrst.object+json" in self.headers.get("Accept", "")

        def wrap(inner, inner_params):
            # json of the rows, as PostgREST builds it
            q = pgsql.SQL("SELECT coalesce(json_agg(_r), '[]')::text, count(*) FROM (SELECT {} FROM ({}) _s) _r").format(
                sel, inner)
            return q, inner_params

        m = self.command
        headers = {}
        if m == "GET" or m == "HEAD":
            inner = pgsql.SQL("SELECT * FROM {}{}").format(tbl, wsql)
            if order:
                inner += pgsql.SQL(" ORDER BY ") + pgsql.SQL(", ").join(order)
            if limit is not None:
                inner += pgsql.SQL(" LIMIT %s" % limit)
            if offset is not None:
                inner += pgsql.SQL(" OFFSET %s" % offset)

            def run(cur):
                cur.execute(*wrap(inner, params))
                data, n = cur.fetchone()
                total = "*"
                if prefer.get("count") == "exact":
                    cur.execute(pgsql.SQL("SELECT count(*) FROM {}{}").format(tbl, wsql), params)
                    total = str(cur.fetchone()[0])
                return data, n, total

            data, n, total = self.db(claims, run)
            start = offset or 0
            headers["Content-Range"] = ("%d-%d/%s" % (start, start + n - 1, total)) if n else ("*/%s" % total)
            return self.rest_out(200, data, n, single, headers)

        if m == "POST":
            body = self.json_body()
            rows = body if isinstance(body, list) else [body]
            if not rows or not all(isinstance(r, dict) for r in rows):
                raise rest_error(400, "PGRST102", "All object keys must match")
            keys = []
            for r in rows:
                for k in r:
                    if k not in keys:
                        keys.append(k)
            ident = [col(k) for k in keys]
            vals = []
            ins_params = []
            for r in rows:
                vs = []
                for k in keys:
                    if k not in r:
                        vs.append(pgsql.SQL("DEFAULT"))
                    else:
                        v = r[k]
                        if isinstance(v, (dict, list)):
                            v = json.dumps(v)
                        vs.append(pgsql.Placeholder())
                        ins_params.append(v)
                vals.append(pgsql.SQL("(") + pgsql.SQL(", ").join(vs) + pgsql.SQL(")"))
            ins = pgsql.SQL("INSERT INTO {} ({}) VALUES {}").format(
                tbl, pgsql.SQL(", ").join(ident), pgsql.SQL(", ").join(vals))
            res = prefer.get("resolution")
            if res in ("merge-duplicates", "ignore-duplicates"):
                target = on_conflict or [pgsql.Identifier("id")]
                ins += pgsql.SQL(" ON CONFLICT ({})").format(pgsql.SQL(", ").join(target))
                if res == "ignore-duplicates":
                    ins += pgsql.SQL(" DO NOTHING")
                else:
                    ins += pgsql.SQL(" DO UPDATE SET ") + pgsql.SQL(", ").join(
                        pgsql.SQL("{0} = EXCLUDED.{0}").format(i) for i in ident)
                headers["Preference-Applied"] = "resolution=" + res
            return self.rest_write(claims, ins, representation, single, 201, wrap, headers, ins_params)

        if m == "PATCH":
            body = self.json_body()
            if not isinstance(body, dict) or not body:
                raise rest_error(400, "PGRST102", "Empty or invalid json")
            sets = []
            set_params = []
            for k, v in body.items():
                if isinstance(v, (dict, list)):
                    v = json.dumps(v)
                sets.append(pgsql.SQL("{} = %s").format(col(k)))
                set_params.append(v)
            upd = pgsql.SQL("UPDATE {} SET {}").format(tbl, pgsql.SQL(", ").join(sets)) + wsql
            return self.rest_write(claims, upd, representation, single, 200 if representation else 204, wrap,
                                   headers, set_params + params)

        if m == "DELETE":
            self.drain()
            dele = pgsql.SQL("DELETE FROM {}").format(tbl) + wsql
            return self.rest_write(claims, dele, representation, single, 200 if representation else 204, wrap,
                                   headers, params)
        raise rest_error(405, "PGRST117", "Unsupported HTTP method: %s" % m)

    def rest_write(self, claims, stmt, representation, single, status, wrap, headers, params=()):
        if representation:
            q = pgsql.SQL("WITH _w AS ({} RETURNING *) SELECT coalesce(json_agg(_r), '[]')::text, count(*) "
                          "FROM (SELECT {} FROM _w) _r").format(stmt, self.sel)

            def run(cur):
                cur.execute(q, list(params))
                return cur.fetchone()

            data, n = self.db(claims, run)
            headers["Preference-Applied"] = ", ".join(
                filter(None, [headers.get("Preference-Applied"), "return=representation"]))
            return self.rest_out(status, data, n, single, headers)

        def run(cur):
            cur.execute(stmt, list(params))
            return cur.rowcount

        self.db(claims, run)
        return self.send(status, None, headers)

    def rest_out(self, status, data, n, single, headers):
        if single:
            if n != 1:
                raise rest_error(406, "PGRST116", "JSON object requested, multiple (or no) rows returned",
                                 "The result contains %d rows" % n)
            row = json.loads(data)[0]
            return self.send(status, row, headers, "application/vnd.pgrst.object+json; charset=utf-8")
        return self.send(status, data, headers)

    def db(self, claims, fn, storage=False):
        try:
            return self.st.as_role(claims, fn, storage)
        except (psycopg2.OperationalError, psycopg2.InterfaceError) as e:
            if storage:
                raise storage_error("503", "DatabaseError", "database unavailable", "DatabaseError")
            raise rest_error(503, "PGRST000", "Database connection error", str(e).strip())
        except psycopg2.Error as e:
            if storage:
                raise storage_db_reply(e)
            raise pg_reply(e, claims.get("role"))

    # -- /storage/v1 --
    def storage(self, path):
        segs = path.split("/")
        m = self.command
        if len(segs) < 3 or segs[1] != "object":
            self.not_found("/storage/v1" + path)
        rest = segs[2:]
        if m == "POST" and rest[0] == "list" and len(rest) == 2:
            return self.st_list(unquote(rest[1]))
        if m == "GET" and rest[0] == "authenticated" and len(rest) >= 3:
            return self.st_download(unquote(rest[1]), "/".join(unquote(s) for s in rest[2:]))
        if m == "DELETE" and len(rest) == 1:
            return self.st_bulk_delete(unquote(rest[0]))
        if len(rest) < 2 or rest[0] in ("list", "sign", "info", "move", "copy", "upload", "public"):
            self.not_found("/storage/v1" + path)
        bucket = unquote(rest[0])
        name = "/".join(unquote(s) for s in rest[1:])
        if m in ("POST", "PUT"):
            return self.st_upload(bucket, name, m == "PUT" or
                                  self.headers.get("x-upsert", "").lower() == "true")
        if m == "GET":
            return self.st_download(bucket, name)
        if m == "DELETE":
            return self.st_delete(bucket, name)
        self.not_found("/storage/v1" + path)

    def bucket(self, bucket_id):
        with self.st.admin() as cur:
            cur.execute("SELECT file_size_limit, allowed_mime_types FROM storage.buckets WHERE id = %s",
                        (bucket_id,))
            row = cur.fetchone()
        if row is None:
            raise storage_error("404", "Bucket not found", "Bucket not found", "NoSuchBucket")
        return row

    def st_upload(self, bucket_id, name, upsert):
        claims = self.caller("storage")
        limit, mimes = self.bucket(bucket_id)
        ctype = self.headers.get("Content-Type", "text/plain;charset=UTF-8")
        mime = ctype.split(";")[0].strip()
        if mimes and mime not in mimes:
            raise storage_error("415", "invalid_mime_type", "mime type %s is not supported" % mime,
                                "InvalidMimeType")
        declared = self.body_len()
        chunked = self.chunked()
        if not chunked and declared is None:
            raise storage_error("411", "missing_content_length", "Missing Content-Length", "MissingContentLength")
        # the real server checks only a declared size (supabase-api.md §3.1)
        if not chunked and limit is not None and declared > limit:
            raise storage_error("413", "Payload too large", "The object exceeded the maximum allowed size",
                                "EntityTooLarge")
        user_meta = None
        if self.headers.get("x-metadata"):
            try:
                user_meta = json.loads(base64.b64decode(self.headers["x-metadata"]))
            except ValueError:
                raise storage_error("400", "invalid_metadata", "Invalid metadata", "InvalidRequest")
        tmp = os.path.join(self.st.objdir, "tmp-" + uuid.uuid4().hex)
        md5 = hashlib.md5()
        try:
            with open(tmp, "wb") as f:
                def sink(b):
                    md5.update(b)
                    f.write(b)

                self.body_read = True
                if chunked:
                    size = self.read_chunks(sink, MAX_BODY)
                else:
                    left = declared
                    while left:
                        b = self.rfile.read(min(left, 65536))
                        if not b:
                            raise Drop()
                        sink(b)
                        left -= len(b)
                    size = declared
            etag = '"%s"' % md5.hexdigest()
            meta = {"eTag": etag, "size": size, "mimetype": mime,
                    "cacheControl": self.headers.get("cache-control", "max-age=3600"),
                    "lastModified": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
                    "contentLength": size, "httpStatusCode": 200}
            new_id = str(uuid.uuid4())
            owner = claims.get("sub")

            def run(cur):
                args = (new_id, bucket_id, name, owner, owner, json.dumps(meta),
                        json.dumps(user_meta) if user_meta is not None else None)
                base = ("INSERT INTO storage.objects (id, bucket_id, name, owner, owner_id, metadata, "
                        "user_metadata, version) VALUES (%s, %s, %s, %s, %s, %s, %s, gen_random_uuid()::text)")
                if upsert:
                    cur.execute(base + " ON CONFLICT (bucket_id, name) DO UPDATE SET metadata = EXCLUDED.metadata, "
                                "user_metadata = EXCLUDED.user_metadata, owner = EXCLUDED.owner, "
                                "owner_id = EXCLUDED.owner_id, version = EXCLUDED.version, updated_at = now() "
                                "RETURNING id::text", args)
                    oid = cur.fetchone()[0]
                else:
                    # no RETURNING: an uploader need not be able to read back
                    cur.execute(base, args)
                    oid = new_id
                os.replace(tmp, os.path.join(self.st.objdir, oid))
                return oid

            oid = self.db(claims, run, storage=True)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return self.send(200, {"Key": "%s/%s" % (bucket_id, name), "Id": oid})

    def st_download(self, bucket_id, name):
        claims = self.caller("storage")
        self.drain()
        self.bucket(bucket_id)

        def run(cur):
            cur.execute("SELECT id::text, metadata, updated_at FROM storage.objects "
                        "WHERE bucket_id = %s AND name = %s", (bucket_id, name))
            return cur.fetchone()

        row = self.db(claims, run, storage=True)
        if row is None:
            raise storage_error("404", "not_found", "Object not found", "NoSuchKey")
        oid, meta, updated = row
        fpath = os.path.join(self.st.objdir, oid)
        try:
            with open(fpath, "rb") as f:
                data = f.read()
        except OSError:
            raise storage_error("500", "internal", "Internal Server Error", "InternalError")
        meta = meta or {}
        headers = {"ETag": meta.get("eTag", ""), "Cache-Control": meta.get("cacheControl", "no-cache"),
                   "Last-Modified": email.utils.format_datetime(updated.astimezone(timezone.utc), usegmt=True),
                   "Accept-Ranges": "bytes"}
        status = 200
        rng = self.headers.get("Range")
        if rng:
            mr = re.fullmatch(r"bytes=(\d*)-(\d*)", rng.strip())
            n = len(data)
            a = b = None
            if mr and (mr.group(1) or mr.group(2)):
                if mr.group(1):
                    a = int(mr.group(1))
                    b = int(mr.group(2)) if mr.group(2) else n - 1
                else:
                    a = max(0, n - int(mr.group(2)))
                    b = n - 1
                b = min(b, n - 1)
            if a is None or a > b:
                raise storage_error("416", "InvalidRange", "The requested range is not satisfiable", "InvalidRange",
                                    http=416)
            headers["Content-Range"] = "bytes %d-%d/%d" % (a, b, n)
            data = data[a:b + 1]
            status = 206
        ctype = meta.get("mimetype", "application/octet-stream")
        if self.fault is not None and self.fault.get("kind") == "drop":
            # announce it all, send half, close
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            for k, v in headers.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data[:len(data) // 2])
            self.wfile.flush()
            self.status_sent = status
            raise Drop()
        return self.send(status, data, headers, ctype)

    def st_list(self, bucket_id):
        claims = self.caller("storage")
        body = self.json_body()
        if not isinstance(body, dict) or not isinstance(body.get("prefix"), str):
            raise storage_error("400", "Error", "body must have required property 'prefix'", "InvalidRequest")
        self.bucket(bucket_id)
        prefix = body["prefix"]
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        limit = int(body.get("limit", 100))
        offset = int(body.get("offset", 0))
        search = body.get("search", "") or ""
        sort = body.get("sortBy") or {}
        column = sort.get("column", "name")
        if column not in ("name", "created_at", "updated_at", "last_accessed_at"):
            column = "name"
        desc = str(sort.get("order", "asc")).lower() == "desc"
        like = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"

        def run(cur):
            cur.execute("SELECT name, id::text, created_at, updated_at, last_accessed_at, metadata "
                        "FROM storage.objects WHERE bucket_id = %s AND name LIKE %s", (bucket_id, like))
            return cur.fetchall()

        rows = self.db(claims, run, storage=True)
        folders = {}
        objects = []
        for name, oid, c, u, la, meta in rows:
            rel = name[len(prefix):]
            if search and search not in rel.split("/")[0]:
                continue
            if "/" in rel:
                folders.setdefault(rel.split("/")[0], None)
            else:
                objects.append({"name": rel, "id": oid, "created_at": iso(c), "updated_at": iso(u),
                                "last_accessed_at": iso(la), "metadata": meta, "_sort": (c, u, la)})
        key = {"name": lambda o: o["name"], "created_at": lambda o: o["_sort"][0],
               "updated_at": lambda o: o["_sort"][1], "last_accessed_at": lambda o: o["_sort"][2]}[column]
        objects.sort(key=key, reverse=desc)
        out = [{"name": f, "id": None, "updated_at": None, "created_at": None, "last_accessed_at": None,
                "metadata": None} for f in sorted(folders, reverse=desc)]
        for o in objects:
            del o["_sort"]
            out.append(o)
        return self.send(200, out[offset:offset + limit])

    def st_delete(self, bucket_id, name):
        claims = self.caller("storage")
        self.drain()
        self.bucket(bucket_id)

        def run(cur):
            cur.execute("DELETE FROM storage.objects WHERE bucket_id = %s AND name = %s RETURNING id::text",
                        (bucket_id, name))
            return [r[0] for r in cur.fetchall()]

        gone = self.db(claims, run, storage=True)
        if not gone:
            with self.st.admin() as cur:
                cur.execute("SELECT 1 FROM storage.objects WHERE bucket_id = %s AND name = %s", (bucket_id, name))
                exists = cur.fetchone() is not None
            if exists:
                raise storage_error("403", "Unauthorized", "Access denied", "AccessDenied")
            raise storage_error("404", "not_found", "Object not found", "NoSuchKey")
        self.unlink(gone)
        return self.send(200, {"message": "Successfully deleted"})

    def st_bulk_delete(self, bucket_id):
        claims = self.caller("storage")
        body = self.json_body()
        if not isinstance(body, dict) or not isinstance(body.get("prefixes"), list):
            raise storage_error("400", "Error", "body must have required property 'prefixes'", "InvalidRequest")
        keys = body["prefixes"]
        if not keys:
            raise storage_error("400", "Error", "body/prefixes must NOT have fewer than 1 items", "InvalidRequest")
        if len(keys) > 1000:
            raise storage_error("400", "InvalidRequest", "Bulk object requests are limited to 1000 objects per "
                                "request.", "InvalidRequest")
        if not all(isinstance(k, str) for k in keys):
            raise storage_error("400", "Error", "body/prefixes/0 must be string", "InvalidRequest")
        self.bucket(bucket_id)

        def run(cur):
            cur.execute("DELETE FROM storage.objects WHERE bucket_id = %s AND name = ANY(%s) "
                        "RETURNING id::text, name, bucket_id, owner::text, created_at, updated_at, "
                        "last_accessed_at, metadata, version", (bucket_id, keys))
            return cur.fetchall()

        rows = self.db(claims, run, storage=True)
        self.unlink([r[0] for r in rows])
        return self.send(200, [{"id": r[0], "name": r[1], "bucket_id": r[2], "owner": r[3],
                                "created_at": iso(r[4]), "updated_at": iso(r[5]), "last_accessed_at": iso(r[6]),
                                "metadata": r[7], "version": r[8]} for r in rows])

    def unlink(self, ids):
        for oid in ids:
            try:
                os.unlink(os.path.join(self.st.objdir, oid))
            except OSError:
                pass


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dsn", required=True, help="libpq DSN of the superuser, e.g. 'host=/tmp/x dbname=postgres'")
    ap.add_argument("--dir", required=True, help="where object bytes live")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--ready", help="write the URL and keys (JSON) here once listening")
    ap.add_argument("--jwt-exp", type=int, default=3600, help="access token lifetime, seconds")
    ap.add_argument("--state", help="keep the JWT secret, sessions and refresh tokens in this file, so that "
                    "a restarted server (same --dir, --state and --port) accepts them")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()
    # the admin connection as given; user requests as `authenticator`
    user_dsn = re.sub(r"\buser=\S+", "", args.dsn).strip() + " user=authenticator"
    state = State(args, args.dsn, user_dsn)
    Handler.st = state
    srv = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    srv.daemon_threads = True
    url = "http://127.0.0.1:%d" % srv.server_address[1]
    if args.ready:
        info = {"url": url, "anon_key": state.anon_key, "publishable_key": state.publishable_key,
                "service_key": state.service_key, "secret_key": state.secret_key, "pid": os.getpid()}
        tmp = args.ready + ".tmp"
        with open(tmp, "w") as f:
            json.dump(info, f)
        os.replace(tmp, args.ready)
    try:
        srv.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
