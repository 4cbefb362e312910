#!/usr/bin/python3
"""tests/relay/stub_test.py: drives curl against supabase_stub.py (started by
stub_test.sh): Auth, PostgREST and Storage status codes, headers and JSON
error bodies as in shared/supabase-api.md, RLS refusals seen through HTTP,
the sweep's request replayed, and the fault hooks."""

import atexit
import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

INFO = json.load(open(os.environ["STUB_READY"]))
URL = INFO["url"]
ANON = INFO["anon_key"]
PSQL = os.environ["PSQL"].split()
OBJDIR = os.environ["STUB_OBJDIR"]
TMP = tempfile.mkdtemp(prefix="cabsync-stubtest.")
atexit.register(shutil.rmtree, TMP, True)
USERS = {
    "alice": "a0000000-0000-0000-0000-000000000001",
    "bob": "b0000000-0000-0000-0000-000000000002",
    "carol": "c0000000-0000-0000-0000-000000000003",
    "dave": "d0000000-0000-0000-0000-000000000009",
    "erin": "e0000000-0000-0000-0000-000000000010",
}
H1 = "1" * 64
passed = 0


def check(cond, what, detail=""):
    global passed
    if not cond:
        print("stub_test: FAIL: %s %s" % (what, detail), file=sys.stderr)
        sys.exit(1)
    passed += 1


class R:
    def __init__(self, rc, status, headers, body):
        self.rc, self.status, self.headers, self.body = rc, status, headers, body

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return "rc=%d status=%d body=%r" % (self.rc, self.status, self.body[:300])


def curl(method, path, token=None, apikey=ANON, headers=None, data=None, chunked=False, timeout=10):
    """One request with curl; data (bytes or a JSON-able value) is sent with
    a declared Content-Length unless chunked."""
    bodyf = os.path.join(TMP, "body")
    headf = os.path.join(TMP, "head")
    for f in (bodyf, headf):
        if os.path.exists(f):
            os.unlink(f)
    cmd = ["curl", "-sS", "--max-time", str(timeout), "-X", method, "-o", bodyf, "-D", headf,
           "-w", "%{http_code}", "-H", "User-Agent: cabsync/test"]
    if apikey is not None:
        cmd += ["-H", "apikey: " + apikey]
    if token is not None:
        cmd += ["-H", "Authorization: Bearer " + token]
    hdrs = dict(headers or {})
    if data is not None:
        if not isinstance(data, bytes):
            data = json.dumps(data).encode()
            hdrs.setdefault("Content-Type", "application/json")
        df = os.path.join(TMP, "data")
        with open(df, "wb") as f:
            f.write(data)
        cmd += ["--data-binary", "@" + df]
        if chunked:
            cmd += ["-H", "Transfer-Encoding: chunked"]
    for k, v in hdrs.items():
        cmd += ["-H", "%s: %s" % (k, v)]
    cmd.append(URL + path)
    t0 = time.time()
    p = subprocess.run(cmd, capture_output=True, timeout=timeout + 5)
    if os.environ.get("STUB_TIMING") and time.time() - t0 > 0.2:
        print("slow %.2fs %s %s" % (time.time() - t0, method, path), file=sys.stderr)
    status = int(p.stdout or b"0")
    hd = {}
    if os.path.exists(headf):
        for line in open(headf, "rb").read().decode("latin-1").splitlines():
            if ":" in line:
                k, v = line.split(":", 1)
                hd[k.strip().lower()] = v.strip()
    body = open(bodyf, "rb").read() if os.path.exists(bodyf) else b""
    return R(p.returncode, status, hd, body)


def admin(path, data=None, method="POST"):
    r = curl(method, "/admin/" + path, apikey=None, data=data)
    check(r.status in (200, 204), "admin " + path, r)
    return r.json() if r.body else None


def psql(sql):
    p = subprocess.run(PSQL + ["-tA", "-c", sql], capture_output=True, text=True, timeout=30)
    check(p.returncode == 0, "psql " + sql, p.stderr)
    return p.stdout.strip()


def storage_err(r, code_in_body, code, what, http=400):
    ok = r.status == http and r.headers.get("content-type", "").startswith("application/json")
    if ok:
        b = r.json()
        ok = b.get("statusCode") == code_in_body and b.get("code") == code and "message" in b and "error" in b
    check(ok, what, r)
    return r.json()


def login(name, password="pw-" + "x" * 8):
    r = curl("POST", "/auth/v1/token?grant_type=password", data={"email": name + "@example.fr", "password": password})
    check(r.status == 200, "login " + name, r)
    return r.json()


def jwt_claims(tok):
    mid = tok.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(mid + "=" * (-len(mid) % 4)))


# -- users -----------------------------------------------------------------
for n, uid in USERS.items():
    check(admin("users", {"id": uid, "email": n + "@example.fr", "password": "pw-" + "x" * 8})["id"] == uid,
          "create " + n)

# -- Auth ------------------------------------------------------------------
r = curl("POST", "/auth/v1/token?grant_type=password", apikey=None,
         data={"email": "alice@example.fr", "password": "pw-xxxxxxxx"})
check(r.status == 401 and r.json()["message"] == "No API key found in request", "no apikey: 401", r)
r = curl("POST", "/auth/v1/token?grant_type=password", apikey="sb_publishable_wrong",
         data={"email": "alice@example.fr", "password": "pw-xxxxxxxx"})
check(r.status == 401 and r.json()["message"] == "Invalid API key", "wrong apikey: 401", r)
r = curl("POST", "/auth/v1/token?grant_type=password", data={"email": "alice@example.fr", "password": "nope"})
check(r.status == 400 and r.json() == {"code": 400, "error_code": "invalid_credentials",
                                        "msg": "Invalid login credentials"}, "wrong password", r)
r = curl("POST", "/auth/v1/token?grant_type=password", apikey=INFO["publishable_key"],
         data={"email": "nobody@example.fr", "password": "pw-xxxxxxxx"})
check(r.status == 400 and r.json()["error_code"] == "invalid_credentials", "unknown user (publishable key)", r)
a = login("alice")
cl = jwt_claims(a["access_token"])
check(a["token_type"] == "bearer" and a["user"]["id"] == USERS["alice"] and cl["sub"] == USERS["alice"]
      and cl["role"] == "authenticated" and cl["exp"] == a["expires_at"]
      and abs(a["expires_at"] - time.time() - a["expires_in"]) < 5, "login answer and JWT claims", a)
r = curl("GET", "/auth/v1/user", token=a["access_token"])
check(r.status == 200 and r.json()["id"] == USERS["alice"], "GET /auth/v1/user", r)
r = curl("POST", "/auth/v1/token?grant_type=refresh_token", data={"refresh_token": a["refresh_token"]})
check(r.status == 200 and r.json()["refresh_token"] != a["refresh_token"], "refresh rotates the token", r)
a2 = r.json()
r = curl("POST", "/auth/v1/token?grant_type=refresh_token", data={"refresh_token": a["refresh_token"]})
check(r.status == 400 and r.json()["error_code"] == "refresh_token_already_used", "a refresh token is single-use", r)
r = curl("POST", "/auth/v1/token?grant_type=refresh_token", data={"refresh_token": a2["refresh_token"]})
check(r.status == 400 and r.json()["error_code"] == "session_not_found",
      "reuse of an old token revokes the session family", r)
r = curl("POST", "/auth/v1/token?grant_type=refresh_token", data={"refresh_token": "garbage"})
check(r.status == 400 and r.json()["error_code"] == "refresh_token_not_found", "unknown refresh token", r)
a = login("alice")
r = curl("POST", "/auth/v1/logout?scope=local", token=a["access_token"])
check(r.status == 204, "logout", r)
r = curl("GET", "/auth/v1/user", token=a["access_token"])
check(r.status == 403 and r.json()["error_code"] == "session_not_found", "after logout the session is gone", r)
r = curl("POST", "/auth/v1/token?grant_type=refresh_token", data={"refresh_token": a["refresh_token"]})
check(r.status == 400 and r.json()["error_code"] == "session_not_found", "after logout no refresh", r)

tok = {n: login(n)["access_token"] for n in USERS}

# -- Storage ---------------------------------------------------------------
OCT = {"Content-Type": "application/octet-stream"}
blob = os.urandom(3000)


def upload(who, name, data=blob, headers=OCT, **kw):
    who = None if "Authorization" in headers else who
    return curl("POST", "/storage/v1/object/cabinet-sync/" + name, token=tok.get(who), headers=headers,
                data=data, **kw)


r = upload("alice", "5/2/devB/b1")
check(r.status == 200 and r.json()["Key"] == "cabinet-sync/5/2/devB/b1" and len(r.json()["Id"]) == 36,
      "alice uploads into bob's folder", r)
b1_id = r.json()["Id"]
check(open(os.path.join(OBJDIR, b1_id), "rb").read() == blob, "the bytes are stored under the row's id")
storage_err(upload("alice", "5/2/devB/b1"), "409", "KeyAlreadyExists", "upload to an existing key")
storage_err(upload("alice", "5/2/devB/b1", headers=dict(OCT, **{"x-upsert": "true"})), "403", "AccessDenied",
            "x-upsert over a bundle is refused by RLS (no UPDATE policy)")
e = storage_err(upload("alice", "6/3/devC/x"), "403", "AccessDenied", "upload into another cabinet")
check(e["message"] == "new row violates row-level security policy", "RLS message", e)
storage_err(upload("alice", "5/3/devC/x"), "403", "AccessDenied", "upload for a practitioner of another cabinet")
storage_err(upload("dave", "5/2/devB/x"), "403", "AccessDenied", "a non-member cannot upload")
storage_err(upload(None, "5/2/devB/x"), "400", "InvalidRequest", "upload without Authorization")
storage_err(upload(None, "5/2/devB/x", headers=dict(OCT, Authorization="Bearer " + ANON)), "403", "AccessDenied",
            "anon cannot upload")
storage_err(upload("alice", "5/2/devB/x", headers={"Content-Type": "text/plain"}), "415", "InvalidMimeType",
            "a MIME type outside the bucket's list")
bad = tok["alice"][:-4] + ("AAAA" if not tok["alice"].endswith("AAAA") else "BBBB")
e = storage_err(upload("alice", "5/2/devB/x", headers=dict(OCT, Authorization="Bearer " + bad)), "403",
                "AccessDenied", "a bad signature")
check(e["message"] == "signature verification failed", "bad signature message", e)
psql("UPDATE storage.buckets SET file_size_limit = 1024 WHERE id = 'cabinet-sync'")
storage_err(upload("alice", "5/2/devB/big", data=os.urandom(2048)), "413", "EntityTooLarge",
            "a declared size above the bucket limit")
r = upload("alice", "5/2/devB/chunked", data=os.urandom(2048), chunked=True)
check(r.status == 200, "a chunked upload is not size-checked (as the real server)", r)
psql("UPDATE storage.buckets SET file_size_limit = 52428800 WHERE id = 'cabinet-sync'")
log = admin("log", method="GET")
check([x["chunked"] for x in log if x["path"].endswith("/big") or x["path"].endswith("/chunked")] == [False, True],
      "the request log tells chunked uploads apart", log[-3:])
for n in ("b2", "b3"):
    check(upload("alice", "5/2/devB/" + n).status == 200, "upload " + n)
check(upload("alice", "5/10/devE/e1").status == 200, "upload for erin")


def lst(who, prefix, **kw):
    body = dict({"prefix": prefix}, **kw) if prefix is not None else kw
    return curl("POST", "/storage/v1/object/list/cabinet-sync", token=tok[who], data=body)


r = lst("bob", "5/2/")
check(r.status == 200 and [(x["name"], x["id"]) for x in r.json()] == [("devB", None)],
      "bob lists his folder: the device sub-folder", r)
r = lst("bob", "5/2/devB/", sortBy={"column": "name", "order": "asc"})
names = [x["name"] for x in r.json()]
check(r.status == 200 and names == ["b1", "b2", "b3", "chunked"], "bob lists his device folder", r)
meta = [x for x in r.json() if x["name"] == "b1"][0]
check(meta["metadata"]["size"] == 3000 and meta["metadata"]["mimetype"] == "application/octet-stream"
      and meta["metadata"]["eTag"] == '"%s"' % hashlib.md5(blob).hexdigest() and meta["created_at"].endswith("Z"),
      "listing metadata", meta)
r = lst("bob", "5/2/devB/", limit=2, offset=1)
check([x["name"] for x in r.json()] == ["b2", "b3"], "limit and offset", r)
r = lst("alice", "5/2/devB/")
check(r.status == 200 and r.json() == [], "the sender cannot list the recipient's folder: []", r)
r = lst("erin", "5/2/devB/")
check(r.status == 200 and r.json() == [], "a colleague cannot list bob's folder", r)
r = lst("carol", "5/")
check(r.status == 200 and r.json() == [], "another cabinet lists nothing", r)
storage_err(lst("bob", None), "400", "InvalidRequest", "list without prefix")

r = curl("GET", "/storage/v1/object/authenticated/cabinet-sync/5/2/devB/b1", token=tok["bob"])
check(r.status == 200 and r.body == blob and r.headers["content-type"] == "application/octet-stream"
      and r.headers["content-length"] == "3000" and r.headers["etag"] == '"%s"' % hashlib.md5(blob).hexdigest()
      and "last-modified" in r.headers, "bob downloads b1", r)
r = curl("GET", "/storage/v1/object/cabinet-sync/5/2/devB/b1", token=tok["bob"], headers={"Range": "bytes=0-99"})
check(r.status == 206 and r.body == blob[:100] and r.headers["content-range"] == "bytes 0-99/3000", "Range", r)
for who in ("alice", "erin", "carol", "dave"):
    storage_err(curl("GET", "/storage/v1/object/authenticated/cabinet-sync/5/2/devB/b1", token=tok[who]), "404",
                "NoSuchKey", "%s cannot download bob's bundle" % who)
storage_err(curl("GET", "/storage/v1/object/authenticated/cabinet-sync/5/2/devB/none", token=tok["bob"]), "404",
            "NoSuchKey", "download of a missing object")

e = storage_err(curl("DELETE", "/storage/v1/object/cabinet-sync/5/2/devB/b1", token=tok["erin"]), "403",
                "AccessDenied", "a colleague cannot delete bob's bundle")
check(e["message"] == "Access denied", "delete refusal message", e)
storage_err(curl("DELETE", "/storage/v1/object/cabinet-sync/5/2/devB/b1", token=tok["alice"]), "403",
            "AccessDenied", "the sender cannot delete it either")
r = curl("DELETE", "/storage/v1/object/cabinet-sync/5/2/devB/b1", token=tok["bob"])
check(r.status == 200 and r.json() == {"message": "Successfully deleted"}, "bob deletes b1", r)
check(not os.path.exists(os.path.join(OBJDIR, b1_id)), "its bytes are gone")
storage_err(curl("DELETE", "/storage/v1/object/cabinet-sync/5/2/devB/b1", token=tok["bob"]), "404", "NoSuchKey",
            "delete of a deleted key")

r = curl("DELETE", "/storage/v1/object/cabinet-sync", token=tok["erin"],
         data={"prefixes": ["5/2/devB/b2", "5/10/devE/e1"]})
check(r.status == 200 and [x["name"] for x in r.json()] == ["5/10/devE/e1"],
      "bulk delete by a colleague removes only her own object", r)
r = curl("DELETE", "/storage/v1/object/cabinet-sync", token=tok["bob"],
         data={"prefixes": ["5/2/devB/b2", "5/2/devB/none"]})
check(r.status == 200 and [x["name"] for x in r.json()] == ["5/2/devB/b2"], "bob bulk-deletes b2", r)
e = storage_err(curl("DELETE", "/storage/v1/object/cabinet-sync", token=tok["bob"],
                     data={"prefixes": ["5/2/devB/k%d" % i for i in range(1001)]}), "400", "InvalidRequest",
                "bulk delete of more than 1000 keys")
check(e["message"] == "Bulk object requests are limited to 1000 objects per request.", "1000 keys message", e)

# -- the sweep's request, replayed against the server ------------------------
psql("SELECT vault.create_secret('%s', 'cabsync_project_url'), vault.create_secret('%s', 'cabsync_service_key')"
     % (URL, INFO["service_key"]))
admin("age", {"name": "5/2/devB/b3", "seconds": 25 * 3600})
check(psql("SELECT cabsync_private.sweep_expired()") == "1", "the sweep selects the aged object")
req = json.loads(psql("SELECT json_build_object('url', url, 'headers', headers, 'body', convert_from(body, 'UTF8')) "
                      "FROM net.http_request_queue ORDER BY id DESC LIMIT 1"))
check(req["url"] == URL + "/storage/v1/object/cabinet-sync", "sweep URL", req)
r = curl("DELETE", req["url"][len(URL):], apikey=req["headers"]["apikey"],
         token=req["headers"]["Authorization"][len("Bearer "):],
         headers={"Content-Type": req["headers"]["Content-Type"]}, data=req["body"].encode())
check(r.status == 200 and [x["name"] for x in r.json()] == ["5/2/devB/b3"],
      "the sweep's request, replayed, deletes the expired object with the service key", r)
r = lst("bob", "5/2/devB/")
check([x["name"] for x in r.json()] == ["chunked"], "only the fresh object is left", r)

# -- PostgREST ---------------------------------------------------------------
REP = {"Prefer": "return=representation"}
share = {"cabinet_id": 5, "patient_key_hash": H1, "owner_osteopath_id": 1, "shared_with_osteopath_id": 2,
         "sync_permission": "write", "patient_hash": H1, "last_sync_timestamp": "2026-11-27T10:37:12Z"}
r = curl("POST", "/rest/v1/cabinet_patient_sync", token=tok["alice"], headers=REP, data=share)
check(r.status == 201 and len(r.json()) == 1 and r.json()[0]["last_sync_timestamp"].startswith("2026-11-27T10:00:00"),
      "alice inserts a share (201, row rounded to the hour)", r)
share_id = r.json()[0]["id"]
r = curl("POST", "/rest/v1/cabinet_patient_sync", token=tok["alice"], data=share)
check(r.status == 409 and r.json()["code"] == "23505", "the same share again: 409 23505", r)
r = curl("POST", "/rest/v1/cabinet_patient_sync?on_conflict=cabinet_id,patient_hash,owner_osteopath_id,"
         "shared_with_osteopath_id", token=tok["alice"],
         headers={"Prefer": "resolution=merge-duplicates,return=representation"},
         data=[dict(share, sync_permission="full")])
check(r.status == 201 and r.json()[0]["sync_permission"] == "full" and r.json()[0]["id"] == share_id,
      "upsert (merge-duplicates) keeps the row", r)
r = curl("POST", "/rest/v1/cabinet_patient_sync", token=tok["alice"], data=dict(share, owner_osteopath_id=2,
                                                                                 shared_with_osteopath_id=1))
check(r.status == 403 and r.json()["code"] == "42501", "a share in bob's name: 403 42501", r)
r = curl("POST", "/rest/v1/cabinet_patient_sync", token=tok["alice"], data=dict(share, sync_permission="admin",
                                                                                 patient_hash="2" * 64))
check(r.status == 400 and r.json()["code"] == "23514", "a bad permission: 400 23514", r)
r = curl("POST", "/rest/v1/cabinet_patient_sync", token=tok["alice"], data=dict(share, patient_key_hash="4711",
                                                                                 patient_hash="2" * 64))
check(r.status == 400 and r.json()["code"] == "23514", "a plain patient id: 400 23514", r)
r = curl("POST", "/rest/v1/cabinet_patient_sync", data=dict(share, patient_hash="2" * 64))
check(r.status == 401 and r.json()["code"] == "42501", "anon cannot insert: 401 42501", r)
r = curl("GET", "/rest/v1/cabinet_patient_sync?select=id")
check(r.status == 401 and r.json()["code"] == "42501", "anon cannot read: 401", r)
q = ("/rest/v1/cabinet_patient_sync?select=id,cabinet_id,patient_hash,sync_permission,is_active"
     "&cabinet_id=eq.5&is_active=is.true&order=created_at.asc")
r = curl("GET", q, token=tok["bob"])
check(r.status == 200 and [x["id"] for x in r.json()] == [share_id] and set(r.json()[0]) ==
      {"id", "cabinet_id", "patient_hash", "sync_permission", "is_active"}, "bob reads his shares", r)
r = curl("GET", q + "&last_sync_timestamp=gt.2026-11-27T09:00:00%2B00:00", token=tok["bob"],
         headers={"Accept": "application/vnd.pgrst.object+json"})
check(r.status == 200 and r.json()["id"] == share_id, "one row as an object, a timestamp filter", r)
for who in ("erin", "carol", "dave"):
    r = curl("GET", q, token=tok[who])
    check(r.status == 200 and r.json() == [], "%s sees no share" % who, r)
r = curl("GET", q, token=tok["carol"], headers={"Accept": "application/vnd.pgrst.object+json"})
check(r.status == 406 and r.json()["code"] == "PGRST116", "object of 0 rows: 406 PGRST116", r)
r = curl("PATCH", "/rest/v1/cabinet_patient_sync?id=eq." + share_id, token=tok["bob"], headers=REP,
         data={"last_sync_timestamp": "2026-11-27T13:05:00Z"})
check(r.status == 200 and r.json()[0]["last_sync_timestamp"].startswith("2026-11-27T13:00:00"),
      "the recipient updates last_sync_timestamp", r)
r = curl("PATCH", "/rest/v1/cabinet_patient_sync?id=eq." + share_id, token=tok["bob"], data={"is_active": False})
check(r.status == 403 and r.json()["code"] == "42501", "the recipient cannot revoke: 403", r)
r = curl("PATCH", "/rest/v1/cabinet_patient_sync?id=eq." + share_id, token=tok["erin"], headers=REP,
         data={"last_sync_timestamp": "2026-11-27T13:05:00Z"})
check(r.status == 200 and r.json() == [], "a colleague's PATCH reaches no row: 200 []", r)
r = curl("DELETE", "/rest/v1/cabinet_patient_sync?id=eq." + share_id, token=tok["bob"])
check(r.status == 204, "the recipient's DELETE: 204", r)
r = curl("GET", "/rest/v1/cabinet_patient_sync?select=id&id=eq." + share_id, token=tok["alice"],
         headers={"Prefer": "count=exact"})
check(r.status == 200 and len(r.json()) == 1 and r.headers.get("content-range") == "0-0/1",
      "...deleted nothing (count=exact)", r)
r = curl("PATCH", "/rest/v1/cabinet_patient_sync?id=eq." + share_id, token=tok["alice"], data={"is_active": False})
check(r.status == 204, "the owner revokes: 204", r)
r = curl("DELETE", "/rest/v1/cabinet_patient_sync?id=eq." + share_id, token=tok["alice"], headers=REP)
check(r.status == 200 and [x["id"] for x in r.json()] == [share_id], "the owner deletes it", r)
r = curl("GET", "/rest/v1/nope", token=tok["alice"])
check(r.status == 404 and r.json()["code"] == "PGRST205", "unknown table: 404 PGRST205", r)
r = curl("GET", "/rest/v1/cabinet_patient_sync?bogus=eq.1", token=tok["alice"])
check(r.status == 400 and r.json()["code"] == "42703", "unknown column: 400 42703", r)

bundle = {"object_name": "5/2/devB/b9", "cabinet_id": 5, "sender_osteopath_id": 1, "recipient_osteopath_id": 2,
          "recipient_device_tag": "devB", "size_bytes": 3000}
r = curl("POST", "/rest/v1/cabinet_sync_bundle", token=tok["alice"], data=bundle)
check(r.status == 201 and r.body == b"", "alice records a bundle (return=minimal: 201, empty)", r)
r = curl("POST", "/rest/v1/cabinet_sync_bundle", token=tok["erin"], data=dict(bundle, object_name="5/2/devB/b10"))
check(r.status == 403 and r.json()["code"] == "42501", "erin cannot record a bundle in alice's name", r)
r = curl("GET", "/rest/v1/cabinet_sync_bundle?recipient_osteopath_id=eq.2&recipient_device_tag=eq.devB",
         token=tok["bob"])
check(r.status == 200 and [x["object_name"] for x in r.json()] == ["5/2/devB/b9"], "bob finds the bundle row", r)
r = curl("GET", "/rest/v1/cabinet_sync_bundle?object_name=like.5/2/*&select=object_name,size_bytes", token=tok["bob"])
check(r.status == 200 and r.json() == [{"object_name": "5/2/devB/b9", "size_bytes": 3000}], "like with *", r)
r = curl("POST", "/rest/v1/cabinet_sync_bundle", token=tok["alice"],
         data=dict(bundle, object_name="5/2/a%s/b11", recipient_device_tag="a%s"))
check(r.status == 400 and r.json()["code"] == "23514", "a %s in a value is data (CHECK refuses it)", r)
r = curl("GET", "/rest/v1/cabinet_sync_bundle?recipient_osteopath_id=in.(2,10)", token=tok["erin"])
check(r.status == 200 and r.json() == [], "erin does not see it", r)
r = curl("DELETE", "/rest/v1/cabinet_sync_bundle?object_name=eq.5/2/devB/b9", token=tok["bob"], headers=REP)
check(r.status == 200 and len(r.json()) == 1, "bob deletes the row after import", r)

# -- expired tokens --------------------------------------------------------------
bob_session = login("bob")
admin("expire-tokens")
e = storage_err(lst("bob", "5/2/"), "403", "AccessDenied", "an expired token at Storage")
check(e["message"] == '"exp" claim timestamp check failed', "expired message", e)
r = curl("GET", q, token=tok["bob"])
check(r.status == 401 and r.json()["code"] == "PGRST303" and "www-authenticate" in r.headers,
      "an expired token at PostgREST: 401 PGRST303", r)
r = curl("POST", "/auth/v1/token?grant_type=refresh_token", data={"refresh_token": bob_session["refresh_token"]})
check(r.status == 200, "refresh after expiry", r)
tok["bob"] = r.json()["access_token"]
check(lst("bob", "5/2/").status == 200, "the new token works")
tok.update({n: login(n)["access_token"] for n in ("alice", "erin")})

# -- faults --------------------------------------------------------------------
admin("fault", {"kind": "status", "status": 503, "count": 1, "path": "/storage/v1/"})
r = lst("bob", "5/2/")
check(r.status == 503 and r.headers["content-type"].startswith("text/plain"), "injected 503 (not JSON)", r)
check(lst("bob", "5/2/").status == 200, "the next request is served")
admin("fault", {"kind": "drop", "count": 1, "path": "/storage/v1/object/cabinet-sync/"})
r = upload("alice", "5/2/devB/dropped", data=os.urandom(200000))
check(r.rc != 0 and r.status == 0, "connection dropped mid-upload", r)
r = lst("bob", "5/2/devB/")
check("dropped" not in [x["name"] for x in r.json()], "nothing stored after a dropped upload", r)
r = upload("alice", "5/2/devB/dropped", data=blob)
check(r.status == 200, "the retried upload succeeds", r)
admin("fault", {"kind": "drop", "count": 1, "path": "/storage/v1/object/authenticated/"})
r = curl("GET", "/storage/v1/object/authenticated/cabinet-sync/5/2/devB/dropped", token=tok["bob"])
check(r.rc == 18 and len(r.body) == len(blob) // 2, "connection dropped mid-download (curl: partial file)", r)
admin("fault", {"kind": "close", "count": 1, "path": "/rest/v1/"})
r = curl("GET", q, token=tok["bob"])
check(r.rc == 52, "connection closed without an answer (curl: empty reply)", r)
r = curl("GET", "/storage/v1/object/authenticated/cabinet-sync/5/2/devB/dropped", token=tok["bob"])
check(r.status == 200 and r.body == blob, "the retried download is whole", r)
log = admin("log", method="GET")
check(any(x["status"] == "dropped" for x in log), "the log records dropped requests")
r = curl("GET", "/storage/v1/nope", token=tok["bob"])
check(r.status == 404 and r.json()["statusCode"] == 404, "unknown route: Fastify's 404 (number)", r)

with open(os.environ["STUB_SAVE"], "w") as f:
    json.dump({"bob": tok["bob"]}, f)
print("stub_test: %d checks passed" % passed)
