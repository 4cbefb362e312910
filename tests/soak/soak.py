#!/usr/bin/env python3
"""tests/soak/soak.py: a day of practice in a few minutes (issue 9 section 1).

    ./run soak [MINUTES] [--seed N]
    python3 tests/soak/soak.py --build BUILD --src SRC [MINUTES] [--seed N]

Five devices, each in its own network namespace with its own dbus-daemon and
avahi-daemon on one bridge (docs/TESTING.md, ../shared/testing-lan.md): Martin
(desk and laptop), Bob, Carol and Dana, a part-time colleague whose PC is on
only part of the time. The agents find each other through mDNS only. A seeded
workload drives the `sqlite3` shell as the practice app would (consultations,
notes, documents, appointments moved, the same patient edited by two
practitioners, shares and revokes) while seeded faults hit the LAN and the
agents (partitions, 30 % loss, link cuts, SIGKILL and restart, avahi-daemon
restarts, Dana's PC switched off and on, a full disk on Carol's PC; Bob's PC
runs 10 minutes late, agent AND app writer, through libfaketime).

Invariants, checked after every heal (with the workload paused) and at the
end after a quiet period (docs/TESTING.md "Soak"):
  converge   every pair of running devices whose practitioners may both see a
             patient holds identical rows for it (canonical dump by gid), and
             no device holds a patient its practitioner may no longer see
  conflicts  every value written to a contested cell and neither overwritten
             by a writer who had read it nor final is in cs_conflicts
             (as a losing value) on every device that sees the patient
  canary     no canary value reaches a device whose practitioner had no right
             to the patient when it was written (database and WAL bytes)
  audit      `cabsync audit verify` passes on every device
  integrity  PRAGMA integrity_check is ok everywhere
  crash      no agent exited except after our SIGKILL/SIGTERM (exit 0 then),
             no sanitizer report in any log
  rss        each agent's RSS stays under a bound and does not keep growing
Exit status: 0 all invariants hold, 1 one failed (the report says which, with
seed, device and patient), 77 skipped (not root, no network namespaces).
The operation and fault schedule is a function of --seed only (separate
random streams; an operation that fails does not change later choices), so a
run replays from its seed; timings (and so which edits end up concurrent)
still depend on the machine.
"""

import argparse
import collections
import hashlib
import os
import random
import re
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

FAKETIME_LIB = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"
CANARY_RE = re.compile(rb"CANARY:([a-z]+[0-9]+):(r[0-9]+:)?")


def log(msg):
    sys.stderr.write("%s soak: %s\n" % (time.strftime("%H:%M:%S"), msg))
    sys.stderr.flush()


def sh(cmd, check=True, **kw):
    r = subprocess.run(cmd, shell=isinstance(cmd, str), capture_output=True, text=True, **kw)
    if check and r.returncode != 0:
        raise RuntimeError("command failed (%d): %s: %s" % (r.returncode, cmd, r.stderr.strip()))
    return r


def q_sql(s):
    return "'" + s.replace("'", "''") + "'"


class Skip(Exception):
    pass


# ------------------------------------------------------------------ the LAN

class Lan:
    """Namespaces on one bridge; every pid and namespace made is recorded and
    removed by cleanup(), also on failure or SIGTERM (ctest timeout)."""

    def __init__(self, tmp):
        self.tmp = tmp
        self.p = "cssoak%d" % os.getpid()
        self.sw = self.p + "sw"
        self.nses = []
        self.dbus = {}
        self.avahi = {}
        self.procs = []
        self.mounts = []

    def ns(self, n):
        return "%sh%d" % (self.p, n)

    def nft_sw(self, script):
        sh(["ip", "netns", "exec", self.sw, "nft", "-f", "-"], input=script)

    def init(self):
        if os.getuid() != 0:
            raise Skip("needs root to create network namespaces")
        for t in ("ip", "dbus-daemon", "avahi-daemon", "nsenter", "nft", "sqlite3"):
            if shutil.which(t) is None:
                raise RuntimeError("%s missing (./run installs it)" % t)
        if sh(["ip", "netns", "add", self.sw], check=False).returncode != 0:
            raise Skip("'ip netns add' failed: no network namespaces here")
        self.nses.append(self.sw)
        sh(["ip", "-n", self.sw, "link", "add", "br0", "type", "bridge"])
        sh(["ip", "-n", self.sw, "link", "set", "br0", "up"])
        sh(["ip", "-n", self.sw, "link", "set", "lo", "up"])
        self.nft_sw("""table bridge cssoak {
    chain part { type filter hook forward priority -10; policy accept; }
    chain loss { type filter hook forward priority 0; policy accept; }
    chain acct { type filter hook forward priority 10; policy accept;
        ether type ip ip protocol tcp counter; }
}
""")

    def host(self, n):
        ns = self.ns(n)
        sh(["ip", "netns", "add", ns])
        self.nses.append(ns)
        sh(["ip", "-n", self.sw, "link", "add", "p%d" % n, "type", "veth", "peer", "name", "eth0",
            "netns", ns])
        sh(["ip", "-n", self.sw, "link", "set", "p%d" % n, "master", "br0", "up"])
        sh(["ip", "-n", ns, "addr", "add", "10.77.0.%d/24" % n, "dev", "eth0"])
        sh(["ip", "-n", ns, "link", "set", "eth0", "up"])
        sh(["ip", "-n", ns, "link", "set", "lo", "up"])
        out = sh(["ip", "netns", "exec", ns, "sh", "-c",
                  "mount -t tmpfs -o mode=755 tmpfs /run && mkdir /run/dbus && "
                  "exec dbus-daemon --system --fork --print-pid"]).stdout
        self.dbus[n] = int(re.sub(r"\D", "", out.splitlines()[0]))
        with open(os.path.join(self.tmp, "avahi-%d.conf" % n), "w") as f:
            f.write("[server]\nhost-name=cabhost%d\nuse-ipv6=no\nallow-interfaces=eth0\n"
                    "enable-dbus=yes\n[wide-area]\nenable-wide-area=no\n[publish]\n"
                    "publish-workstation=no\npublish-aaaa-on-ipv4=no\n" % n)
        self.avahi_start(n)

    def enter(self, n):
        return ["nsenter", "-t", str(self.dbus[n]), "-m", "-n", "--wd=" + self.tmp]

    def spawn(self, n, logpath, argv, env=None):
        lf = open(logpath, "ab")
        p = subprocess.Popen(self.enter(n) + argv, stdout=lf, stderr=lf, env=env,
                             stdin=subprocess.DEVNULL)
        lf.close()
        self.procs.append(p)
        return p

    def avahi_start(self, n):
        self.avahi[n] = self.spawn(n, os.path.join(self.tmp, "avahi-%d.out" % n),
                                   ["avahi-daemon", "-f", os.path.join(self.tmp, "avahi-%d.conf" % n),
                                    "--no-rlimits"])

    def avahi_restart(self, n, sig):
        stop_proc(self.avahi[n], sig)
        self.avahi_start(n)

    def cut(self, n, down):
        sh(["ip", "-n", self.ns(n), "link", "set", "eth0", "down" if down else "up"])

    def partition(self, a, b):
        rules = ""
        for x in a:
            for y in b:
                rules += ('add rule bridge cssoak part iifname "p%d" oifname "p%d" drop\n'
                          'add rule bridge cssoak part iifname "p%d" oifname "p%d" drop\n'
                          % (x, y, y, x))
        self.nft_sw(rules)

    def heal(self):
        self.nft_sw("flush chain bridge cssoak part\n")

    def loss(self, pct):
        s = "flush chain bridge cssoak loss\n"
        if pct > 0:
            s += "add rule bridge cssoak loss numgen random mod 100 < %d drop\n" % pct
        self.nft_sw(s)

    def tcp_bytes(self):
        out = sh(["ip", "netns", "exec", self.sw, "nft", "list", "chain", "bridge", "cssoak",
                  "acct"]).stdout
        m = re.search(r"counter packets \d+ bytes (\d+)", out)
        return int(m.group(1)) if m else 0

    def cleanup(self):
        for p in reversed(self.procs):
            if p.poll() is None:
                try:
                    p.kill()
                except OSError:
                    pass
        for p in self.procs:
            try:
                p.wait(timeout=10)
            except Exception:
                pass
        for pid in self.dbus.values():
            try:
                os.kill(pid, signal.SIGTERM)
            except OSError:
                pass
        for pid in self.dbus.values():
            for _ in range(50):
                if not os.path.exists("/proc/%d" % pid):
                    break
                time.sleep(0.1)
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        for ns in self.nses:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        for m in self.mounts:
            subprocess.run(["umount", "-l", m], capture_output=True)


def stop_proc(p, sig=signal.SIGTERM, wait_s=15):
    if p is None or p.poll() is not None:
        return p.returncode if p else None
    p.send_signal(sig)
    try:
        return p.wait(timeout=wait_s)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
        return "hung"


# ------------------------------------------------------------------ devices

class Device:
    def __init__(self, name, host, prac, soak, skew_s=0, disk=None):
        self.name = name
        self.host = host
        self.prac = prac
        self.soak = soak
        base = disk or soak.tmp
        self.home = os.path.join(base, "h_" + name)
        self.db = os.path.join(base, name + ".db")
        self.xdg = os.path.join(soak.tmp, "x_" + name)
        self.log = os.path.join(soak.tmp, name + ".log")
        self.skew_s = skew_s
        self.disk = disk
        self.agent = None
        self.expected_exit = None  # 'kill' or 'term' when we stop it
        self.on = True  # the PC is switched on (part-time PC)
        self.rss = []  # (t, kB)
        self.crashes = []
        self.starts = 0

    def env(self):
        e = dict(os.environ)
        e["XDG_RUNTIME_DIR"] = self.xdg
        e["CS_KEYRING"] = "off"
        e.pop("DBUS_SESSION_BUS_ADDRESS", None)
        if self.skew_s:
            e["LD_PRELOAD"] = FAKETIME_LIB
            e["FAKETIME"] = "%+d" % self.skew_s
            e["DONT_FAKE_MONOTONIC"] = "1"
            e["FAKETIME_DONT_RESET"] = "1"
            a = e.get("ASAN_OPTIONS", "")
            # allocator_release_to_os_interval_ms=-1: else ASan's allocator
            # reads the clock inside libfaketime's constructor and deadlocks
            # (tests/agent/clockskew_test.sh)
            e["ASAN_OPTIONS"] = ((a + ":" if a else "") + "verify_asan_link_order=0"
                                 ":allocator_release_to_os_interval_ms=-1")
        return e

    def cli(self, *args, check=False):
        return subprocess.run([self.soak.cabsync] + list(args), capture_output=True, text=True,
                              env=self.env())

    def sql(self, script):
        """The practice app: one sqlite3 shell process (under libfaketime on a
        skewed PC: the capture triggers take the hlc in the app's process)."""
        return subprocess.run(["sqlite3", "-bail", "-cmd", ".timeout 8000", self.db],
                              input="PRAGMA foreign_keys=ON;\n" + script, capture_output=True,
                              text=True, env=self.env())

    def ro(self):
        c = sqlite3.connect("file:%s?mode=ro" % self.db, uri=True, timeout=10)
        return c

    def start(self):
        os.makedirs(self.xdg, mode=0o700, exist_ok=True)
        port = os.path.join(self.home, "port")
        if os.path.exists(port):
            os.unlink(port)
        self.agent = self.soak.lan.spawn(self.host, self.log,
                                         [self.soak.cabsync, "agent", "--home", self.home],
                                         env=self.env())
        self.expected_exit = None
        self.starts += 1
        end = time.time() + 30
        while time.time() < end:
            if os.path.exists(port) and os.path.getsize(port) > 0:
                return
            if self.agent.poll() is not None:
                break
            time.sleep(0.05)
        self.check_exit()
        raise RuntimeError("agent %s did not start" % self.name)

    def stop(self, sig):
        if self.agent is None:
            return
        self.expected_exit = "kill" if sig == signal.SIGKILL else "term"
        rc = stop_proc(self.agent, sig)
        if sig != signal.SIGKILL and rc != 0:
            self.crashes.append("exit status %s after SIGTERM" % rc)
        self.agent = None

    def running(self):
        return self.agent is not None and self.agent.poll() is None

    def check_exit(self):
        """An agent that ended without us asking is a crash."""
        if self.agent is not None and self.agent.poll() is not None and self.expected_exit is None:
            self.crashes.append("exited by itself, status %d" % self.agent.returncode)
            self.agent = None

    def sample_rss(self, t):
        if not self.running():
            return
        try:
            with open("/proc/%d/status" % self.agent.pid) as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        self.rss.append((t, int(line.split()[1])))
        except OSError:
            pass


# ------------------------------------------------------------------ the model

class Patient:
    def __init__(self, tag, owner, dev):
        self.tag = tag
        self.owner = owner  # practitioner
        self.dev = dev  # creating device name
        self.gid = None  # hex, None if its creation failed
        self.grants = {}  # practitioner -> perm (in force)
        self.ever = set()  # practitioners that ever had a right (owner included)
        self.ever.add(owner)
        self.granted_at = collections.defaultdict(list)  # practitioner -> [op seq]
        self.hot = False  # has a contested cell
        self.cid = 0


class Soak:
    DEVICES = [  # name, host, practitioner
        ("mdesk", 1, "Martin"),
        ("mlap", 2, "Martin"),
        ("bob", 3, "Bob"),
        ("carol", 4, "Carol"),
        ("dana", 5, "Dana"),
    ]
    SKEWED = "bob"  # 10 minutes late: agent and app writer
    DISKFULL = "carol"  # database and home on a small tmpfs
    PARTTIME = "dana"
    PRACS = ["Martin", "Bob", "Carol", "Dana"]
    INITIAL = {"mdesk": 90, "bob": 70, "carol": 70, "dana": 40}

    def __init__(self, a):
        self.a = a
        self.build = os.path.abspath(a.build)
        self.src = os.path.abspath(a.src)
        self.cabsync = os.path.join(self.build, "agent", "cabsync")
        self.seed = a.seed
        self.rng_ops = random.Random("ops-%d" % a.seed)
        self.rng_faults = random.Random("faults-%d" % a.seed)
        self.tmp = tempfile.mkdtemp(prefix="cs-soak-")
        self.lan = Lan(self.tmp)
        self.devs = {}
        self.patients = {}  # tag -> Patient
        self.by_gid = {}
        self.counts = collections.Counter()  # operations
        self.faults = collections.Counter()
        self.fault_log = []
        self.conv = []  # (fault, seconds)
        self.heals = []  # (fault, seconds, converged), every wait, in order
        self.violations = []
        self.inv = collections.OrderedDict((k, []) for k in (
            "converge", "conflicts", "canary", "audit", "integrity", "crash", "rss"))
        self.writes = collections.defaultdict(list)  # gid -> [(dev, old, new)]
        self.canary_forbidden = {}  # token bytes -> (set of practitioners, patient tag)
        self.rk = 0
        self.changes = 0  # rows the workload changed
        self.seq = 0
        self.t0 = time.time()
        self.tables = self.read_tables()

    # ---- helpers
    def dev(self, name):
        return self.devs[name]

    def prac_devs(self, prac):
        return [d for d in self.devs.values() if d.prac == prac]

    def fail(self, inv, msg):
        m = "%s: %s (seed %d)" % (inv, msg, self.seed)
        self.inv[inv].append(m)
        log("VIOLATION " + m)

    def read_tables(self):
        tabs = collections.OrderedDict()
        cur = None
        with open(os.path.join(self.src, "sql/demo/tables.ini")) as f:
            for line in f:
                line = line.strip()
                m = re.match(r"\[table (\w+)\]", line)
                if m:
                    cur = tabs.setdefault(m.group(1), {"fk": {}, "scope": None})
                    continue
                m = re.match(r"fk\s*=\s*(\w+)\s*->\s*(\w+)", line)
                if m and cur is not None:
                    cur["fk"][m.group(1)] = m.group(2)
                m = re.match(r"scope\s*=\s*(\w+)", line)
                if m and cur is not None:
                    cur["scope"] = m.group(1)
        return tabs

    # ---- setup
    def setup(self):
        self.lan.init()
        disk = os.path.join(self.tmp, "disk")
        os.makedirs(disk)
        sh(["mount", "-t", "tmpfs", "-o", "size=%dm,mode=755" % self.a.disk_mb, "tmpfs", disk])
        self.lan.mounts.append(disk)
        for name, host, prac in self.DEVICES:
            self.devs[name] = Device(name, host, prac, self,
                                     skew_s=self.a.skew_min * 60 if name == self.SKEWED else 0,
                                     disk=disk if name == self.DISKFULL else None)
        for d in self.devs.values():
            self.lan.host(d.host)
        schema = os.path.join(self.src, "sql/demo/schema.sql")
        gen = os.path.join(self.src, "sql/demo/generate.sh")
        for i, d in enumerate(self.devs.values()):
            sh(["sqlite3", d.db], stdin=open(schema))
            sh(["sqlite3", d.db, "PRAGMA journal_mode=WAL"])
            n = self.INITIAL.get(d.name, 0) * self.a.patients // 270
            if n:
                sh(["sh", gen, d.db, str(n), "2", str(self.seed * 10 + i), d.prac])
                # canary: a token naming the patient in its notes
                sh(["sqlite3", d.db, "UPDATE patient SET antecedents = coalesce(antecedents, '') || "
                    "' CANARY:%s' || id || ':'" % d.name])
        tables = os.path.join(self.src, "sql/demo/tables.ini")
        first = self.devs["mdesk"]
        r = first.cli("init", "--home", first.home, "--db", first.db, "--tables", tables,
                      "--cabinet", "Cab", "--practitioner", "Martin", "--device-name", "mdesk")
        if r.returncode:
            raise RuntimeError("init mdesk: " + r.stderr)
        for d in self.devs.values():
            if d is first:
                continue
            same = self.devs["mdesk"].home
            r = d.cli("init", "--home", d.home, "--db", d.db, "--tables", tables, "--practitioner",
                      d.prac, "--device-name", d.name, "--same-cabinet-as", same)
            if r.returncode:
                raise RuntimeError("init %s: %s" % (d.name, r.stderr))
        # the founder's roster holds every device (each init signed one in there)
        for d in self.devs.values():
            if d is not first:
                shutil.copy(os.path.join(first.home, "roster.ini"), os.path.join(d.home, "roster.ini"))
        # the model: initial patients, their gids
        for d in self.devs.values():
            c = d.ro()
            for pk, gid in c.execute(
                    "SELECT i.pk, hex(i.gid) FROM cs_ids i JOIN cs_tables t ON t.tid = i.tid "
                    "WHERE t.name = 'patient' AND i.pk IS NOT NULL"):
                p = Patient("%s%d" % (d.name, pk), d.prac, d.name)
                p.gid = gid
                self.patients[p.tag] = p
                self.by_gid[gid] = p
            c.close()
        log("%d patients on %d devices, temp %s" % (len(self.patients), len(self.devs), self.tmp))
        for d in self.devs.values():
            d.start()

    # ---- dumps and the convergence probe
    def dump(self, d):
        """{patient gid: sha256 of its sorted row lines}, plus lines, untracked rows."""
        per = collections.defaultdict(list)
        untracked = 0
        c = d.ro()
        try:
            tid = dict(c.execute("SELECT name, tid FROM cs_tables"))
            gids = {}
            for t, pk, g in c.execute("SELECT tid, pk, hex(gid) FROM cs_ids WHERE pk IS NOT NULL"):
                gids[(t, pk)] = g
            for tname, spec in self.tables.items():
                cur = c.execute("SELECT * FROM %s" % tname)
                cols = [x[0] for x in cur.description]
                for row in cur:
                    r = dict(zip(cols, row))
                    g = gids.get((tid.get(tname), r["id"]))
                    if g is None:
                        untracked += 1
                        continue
                    if spec["scope"] == "self":
                        pat = g
                    else:
                        pat = gids.get((tid.get("patient"), r[spec["scope"]]), "orphan")
                    vals = []
                    for col in cols:
                        if col == "id":
                            continue
                        v = r[col]
                        if col in spec["fk"] and v is not None:
                            v = "ref:" + str(gids.get((tid.get(spec["fk"][col]), v), "dangling"))
                        vals.append(repr(v))
                    per[pat].append("%s|%s|%s" % (tname, g, "|".join(vals)))
        finally:
            c.close()
        out = {}
        for pat, lines in per.items():
            lines.sort()
            out[pat] = (hashlib.sha256("\n".join(lines).encode()).hexdigest(), lines)
        return out, untracked

    def may_see(self, prac, p):
        return prac == p.owner or prac in p.grants

    def divergence(self, names):
        """Empty list when the devices agree; else a few sentences."""
        dumps = {}
        probs = []
        for n in names:
            try:
                dumps[n], untracked = self.dump(self.devs[n])
            except sqlite3.Error as e:
                return ["%s: cannot read (%s)" % (n, e)]
            if untracked:
                probs.append("%s: %d app rows without a row record" % (n, untracked))
        pats = [p for p in self.patients.values() if p.gid]
        for p in pats:
            for i, n1 in enumerate(names):
                d1 = self.devs[n1]
                h1 = dumps[n1].get(p.gid, (None, []))
                if not self.may_see(d1.prac, p):
                    if h1[1]:
                        probs.append("%s holds %d rows of patient %s (gid %s) that %s may not see"
                                     % (n1, len(h1[1]), p.tag, p.gid, d1.prac))
                    continue
                for n2 in names[i + 1:]:
                    d2 = self.devs[n2]
                    if not self.may_see(d2.prac, p):
                        continue
                    h2 = dumps[n2].get(p.gid, (None, []))
                    if h1[0] != h2[0]:
                        diff = sorted(set(h1[1]) ^ set(h2[1]))
                        probs.append("%s and %s differ on patient %s (gid %s): %d lines, e.g. %s"
                                     % (n1, n2, p.tag, p.gid, len(diff), diff[:2]))
                if len(probs) > 8:
                    return probs
        return probs

    def running_names(self):
        return [d.name for d in self.devs.values() if d.running()]

    def wait_converged(self, why, bound):
        """Workload paused: time until the running devices agree."""
        t0 = time.time()
        probs = []
        while time.time() - t0 < bound:
            self.poll_agents()
            probs = self.divergence(self.running_names())
            if not probs:
                dt = time.time() - t0
                self.conv.append((why, dt))
                self.heals.append((why, dt, True))
                log("converged in %.2f s after %s" % (dt, why))
                return dt
            time.sleep(0.25)
        self.heals.append((why, time.time() - t0, False))
        self.fail("converge", "not converged %ds after %s: %s" % (bound, why, "; ".join(probs[:4])))
        return None

    def poll_agents(self):
        t = time.time() - self.t0
        for d in self.devs.values():
            d.check_exit()
            d.sample_rss(t)

    # ---- workload (the app, through the sqlite3 shell)
    def pick_writer(self):
        on = [d for d in self.devs.values() if d.on]
        return self.rng_ops.choice(on)

    def writable(self, prac):
        return [p for p in self.patients.values()
                if p.owner == prac or p.grants.get(prac) in ("write", "full")]

    def row_of(self, p):
        return "(SELECT pk FROM cs_ids WHERE gid = X'%s')" % (p.gid or "00")

    def run_sql(self, d, script, kind):
        self.counts[kind] += 1
        r = d.sql(script)
        if r.returncode != 0:
            err = r.stderr.strip().splitlines()[-1] if r.stderr.strip() else "?"
            if "full" in err or "disk" in err:
                self.counts["failed: disk full"] += 1
            elif "read-only" in err:
                self.counts["refused: shared read-only"] += 1
            else:
                self.counts["failed: " + err[:60]] += 1
            return None
        return r.stdout

    def op(self):
        rng = self.rng_ops
        d = self.pick_writer()
        kind = rng.choices(["consult", "note", "contested", "appt", "doc", "newpat", "share",
                            "revoke", "delappt"], [20, 15, 25, 10, 8, 4, 6, 4, 3])[0]
        self.seq += 1
        tok = "%s-%d" % (d.name, self.seq)
        mine = self.writable(d.prac)
        p = rng.choice(mine) if mine else None
        date = "2026-%02d-%02d" % (rng.randint(1, 12), rng.randint(1, 28))
        if kind == "newpat":
            tag = "%sn%d" % (d.name, self.seq)
            np = Patient(tag, d.prac, d.name)
            out = self.run_sql(d, "INSERT INTO patient(nom,prenom,date_naissance,sexe,cree_le,antecedents)"
                               " VALUES('Soak','%s','1990-01-01','F','%s','CANARY:%s:');\n"
                               "SELECT hex(gid) FROM cs_ids WHERE gid IN (SELECT gid FROM cs_ids i "
                               "JOIN cs_tables t ON t.tid=i.tid WHERE t.name='patient' AND "
                               "i.pk=last_insert_rowid());" % (tok, date, tag), kind)
            self.patients[tag] = np
            if out and out.strip():
                np.gid = out.strip().splitlines()[-1]
                self.by_gid[np.gid] = np
                self.changes += 1
            return
        if p is None or p.gid is None:
            return
        if kind == "share" or kind == "revoke":
            own = [x for x in self.patients.values() if x.owner == d.prac and x.gid and
                   (kind == "share" or x.grants)]
            if own:
                self.share_op(d, rng.choice(own), kind, rng)
            return
        if kind == "consult":
            out = self.run_sql(d, "INSERT INTO consultation(patient_id,praticien,date_consultation,motif,"
                               "tarif_cents) SELECT %s,'%s','%s','soak %s',5000 WHERE %s IS NOT NULL;"
                               "SELECT changes();" % (self.row_of(p), d.prac, date, tok, self.row_of(p)),
                               kind)
        elif kind == "note":
            out = self.run_sql(d, "UPDATE consultation SET examen='%s' WHERE id = (SELECT id FROM "
                               "consultation WHERE patient_id=%s ORDER BY id LIMIT 1 OFFSET %d);"
                               "SELECT changes();" % (tok, self.row_of(p), rng.randint(0, 2)), kind)
        elif kind == "appt":
            out = self.run_sql(d, "UPDATE appointment SET debut='%sT%02d:00', note='%s' WHERE id = "
                               "(SELECT id FROM appointment WHERE patient_id=%s ORDER BY id LIMIT 1);"
                               "SELECT changes();" % (date, rng.randint(8, 19), tok, self.row_of(p)),
                               kind)
        elif kind == "delappt":
            out = self.run_sql(d, "DELETE FROM appointment WHERE id = (SELECT id FROM appointment "
                               "WHERE patient_id=%s ORDER BY id DESC LIMIT 1);SELECT changes();"
                               % self.row_of(p), kind)
        elif kind == "doc":
            h = hashlib.sha256(tok.encode()).hexdigest()
            out = self.run_sql(d, "INSERT INTO document(patient_id,nom_fichier,type_mime,taille_octets,"
                               "sha256,ajoute_le) SELECT %s,'%s.pdf','application/pdf',%d,'%s','%s' "
                               "WHERE %s IS NOT NULL;SELECT changes();"
                               % (self.row_of(p), tok, rng.randint(1000, 900000), h, date,
                                  self.row_of(p)), kind)
        else:  # contested: the patient's address, often by two practitioners at once
            self.contested(d, p, tok)
            others = [o for o in self.devs.values() if o is not d and o.on and
                      (o.prac == p.owner or p.grants.get(o.prac) in ("write", "full"))]
            if others and rng.random() < 0.6:
                o = rng.choice(others)
                self.seq += 1
                self.contested(o, p, "%s-%d" % (o.name, self.seq))
            return
        if out and out.strip().splitlines()[-1] != "0":
            self.changes += 1

    def contested(self, d, p, tok):
        val = "A:" + tok
        out = self.run_sql(d, "BEGIN IMMEDIATE;\nSELECT 'OLD', quote(adresse), 'N', count(*) FROM patient "
                           "WHERE id=%s;\nUPDATE patient SET adresse='%s' WHERE id=%s;\nSELECT 'CH', "
                           "changes();\nCOMMIT;\n" % (self.row_of(p), val, self.row_of(p)),
                           "contested")
        if out is None:
            # did it commit after all? (disk full on COMMIT rolls back, but be sure)
            c = d.ro()
            try:
                n = c.execute("SELECT count(*) FROM patient WHERE adresse=?", (val,)).fetchone()[0]
            finally:
                c.close()
            if n:
                self.fail("conflicts", "%s: a failed write of patient %s committed" % (d.name, p.tag))
            return
        old = None
        ch = "0"
        for line in out.splitlines():
            f = line.split("|")
            if f[0] == "OLD":
                old = f[1]
            elif f[0] == "CH":
                ch = f[1]
        if ch != "1":
            return
        if old is not None and old.startswith("'") and old.endswith("'"):
            old = old[1:-1].replace("''", "'")
        self.writes[p.gid].append((d.name, old, val))
        p.hot = True
        self.changes += 1

    def share_op(self, d, p, kind, rng):
        if p.owner != d.prac:
            return
        c = d.ro()
        try:
            row = c.execute("SELECT pk FROM cs_ids WHERE gid = ?", (bytes.fromhex(p.gid),)).fetchone()
        finally:
            c.close()
        if not row or row[0] is None:
            return
        local = str(row[0])
        if kind == "share":
            cand = [x for x in self.PRACS if x != d.prac and x not in p.grants]
            if not cand:
                return
            q = rng.choice(cand)
            perm = rng.choice(["read", "write", "write"])
            self.counts["share"] += 1
            r = d.cli("share", local, "--with", q, "--perm", perm, "--home", d.home)
            if r.returncode == 0:
                p.grants[q] = perm
                p.ever.add(q)
                p.granted_at[q].append(self.seq)
            else:
                self.counts["share failed: " + r.stderr.strip()[:70]] += 1
        else:
            if not p.grants:
                return
            q = rng.choice(sorted(p.grants))
            self.counts["revoke"] += 1
            r = d.cli("revoke", local, "--from", q, "--home", d.home)
            if r.returncode != 0:
                self.counts["revoke failed: " + r.stderr.strip()[:70]] += 1
                return
            del p.grants[q]
            # a canary written by the revoking device after the revoke: it
            # must never reach q's devices (unless q gets a right again)
            self.rk += 1
            token = "CANARY:%s:r%d:" % (p.tag, self.rk)
            out = self.run_sql(d, "UPDATE patient SET profession='%s' WHERE id=%s;SELECT changes();"
                               % (token, self.row_of(p)), "post-revoke canary")
            if out and out.strip().endswith("1"):
                self.canary_forbidden[token.encode()] = ({q}, p.tag, p, self.seq)
                self.changes += 1

    # ---- faults
    def fault(self, kind, rng):
        """Inject one fault; returns (description, heal function)."""
        on = [d for d in self.devs.values() if d.on]
        if kind == "partition" and len(on) >= 2:
            hosts = [d.host for d in on]
            rng.shuffle(hosts)
            k = rng.randint(1, len(hosts) - 1)
            a, b = sorted(hosts[:k]), sorted(hosts[k:])
            self.lan.partition(a, b)
            return "partition %s | %s" % (a, b), self.lan.heal
        if kind == "loss":
            self.lan.loss(30)
            return "30% loss", lambda: self.lan.loss(0)
        if kind == "cut":
            d = rng.choice(on)
            self.lan.cut(d.host, True)
            return "link of %s cut" % d.name, lambda: self.lan.cut(d.host, False)
        if kind == "kill":
            d = rng.choice(on)
            d.stop(signal.SIGKILL)
            return "SIGKILL agent %s" % d.name, d.start
        if kind == "avahi":
            d = rng.choice(on)
            sig = rng.choice([signal.SIGTERM, signal.SIGKILL])
            self.lan.avahi_restart(d.host, sig)
            return "avahi-daemon of %s restarted (%s)" % (d.name, sig.name), None
        if kind == "diskfull":
            d = self.devs[self.DISKFULL]
            fill = os.path.join(d.disk, "filler")
            st = os.statvfs(d.disk)
            with open(fill, "wb") as f:
                try:
                    os.posix_fallocate(f.fileno(), 0, st.f_bavail * st.f_frsize)
                except OSError:
                    pass
            return "disk of %s full" % d.name, lambda: os.unlink(fill)
        if kind == "offline":
            d = self.devs[self.PARTTIME]
            if not d.on:
                return None, None
            d.on = False
            d.stop(signal.SIGTERM)

            def back():
                d.on = True
                d.start()
            return "%s's PC switched off" % d.name, back
        return None, None

    # ---- the run
    def run(self):
        self.setup()
        names = [d.name for d in self.devs.values()]
        log("agents started; initial sync")
        self.wait_converged("initial sync", self.a.bound * 3)
        self.rss_base = {d.name: max([k for _, k in d.rss] or [0]) for d in self.devs.values()}
        bytes0 = self.lan.tcp_bytes()
        changes0 = self.changes
        end = time.time() + self.a.minutes * 60
        kinds = ["partition", "loss", "cut", "kill", "avahi", "diskfull", "offline"]
        weights = [4, 2, 3, 3, 2, 1, 1]
        next_fault = time.time() + self.rng_faults.uniform(5, 12)
        active = None  # (desc, heal, until)
        last_sample = 0
        while time.time() < end:
            now = time.time()
            if now - last_sample > 2:
                self.poll_agents()
                last_sample = now
            if active and now >= active[2]:
                desc, heal, _ = active
                if heal:
                    heal()
                log("healed: " + desc)
                self.wait_converged(desc, self.a.bound)
                active = None
                next_fault = time.time() + self.rng_faults.uniform(3, 10)
                continue
            if not active and now >= next_fault:
                kind = self.rng_faults.choices(kinds, weights)[0]
                hold = self.rng_faults.uniform(4, 15)
                desc, heal = self.fault(kind, self.rng_faults)
                if desc:
                    self.faults[kind] += 1
                    self.fault_log.append("%6.1fs %s (%.0fs)" % (now - self.t0, desc, hold))
                    log("fault: %s for %.0fs" % (desc, hold))
                    active = (desc, heal, now + hold)
                else:
                    next_fault = now + 2
                continue
            self.op()
            time.sleep(self.rng_ops.uniform(0.05, 0.4))
        if active:
            desc, heal, _ = active
            if heal:
                heal()
        # quiet period: everything healed, every PC on
        for d in self.devs.values():
            if not d.on:
                d.on = True
                d.start()
        log("quiet period")
        self.lan.heal()
        self.lan.loss(0)
        self.final_dt = self.wait_converged("end (quiet period)", self.a.bound * 3)
        time.sleep(2)  # purges and conflict records settle; must stay converged
        probs = self.divergence(names)
        for p_ in probs:
            self.fail("converge", "end: " + p_)
        self.wire_bytes = self.lan.tcp_bytes() - bytes0
        self.work_changes = self.changes - changes0
        self.final_checks(names)

    def final_checks(self, names):
        self.check_conflicts(names)
        self.check_canaries(names)
        for d in self.devs.values():
            r = d.cli("audit", "verify", "--home", d.home)
            if r.returncode != 0:
                self.fail("audit", "%s: audit verify exit %d: %s" % (d.name, r.returncode,
                                                                     r.stdout.strip()[-200:] + r.stderr.strip()[-200:]))
        self.poll_agents()
        for d in self.devs.values():
            d.stop(signal.SIGTERM)
        for d in self.devs.values():
            c = d.ro()
            try:
                ok = c.execute("PRAGMA integrity_check").fetchall()
            finally:
                c.close()
            if ok != [("ok",)]:
                self.fail("integrity", "%s: %s" % (d.name, ok[:3]))
            for c_ in d.crashes:
                self.fail("crash", "%s: %s" % (d.name, c_))
            with open(d.log, "rb") as f:
                data = f.read()
            for pat in (b"AddressSanitizer", b"LeakSanitizer", b"runtime error:", b"Assertion"):
                if pat in data:
                    i = data.find(pat)
                    self.fail("crash", "%s: %s in its log: %s" % (d.name, pat.decode(),
                                                                  data[i:i + 160].decode(errors="replace")))
            ks = [k for _, k in d.rss]
            if ks:
                mx = max(ks)
                if mx > self.a.rss_mb * 1024:
                    self.fail("rss", "%s: %d MB > %d MB" % (d.name, mx // 1024, self.a.rss_mb))
                base = self.rss_base.get(d.name) or ks[0]
                if mx > base * 2 + 64 * 1024:
                    self.fail("rss", "%s: grew from %d MB (after the initial sync) to %d MB"
                              % (d.name, base // 1024, mx // 1024))

    def check_conflicts(self, names):
        conf = {}
        for n in names:
            c = self.devs[n].ro()
            try:
                conf[n] = set((g, v) for g, v in c.execute(
                    "SELECT hex(row_gid), lose_val FROM cs_conflicts WHERE col='adresse'"))
            finally:
                c.close()
        self.nconf = {n: len(v) for n, v in conf.items()}
        self.lost_checked = 0
        for gid, ws in self.writes.items():
            p = self.by_gid[gid]
            seers = [n for n in names if self.may_see(self.devs[n].prac, p)]
            if not seers:
                continue
            c = self.devs[seers[0]].ro()
            try:
                row = c.execute("SELECT adresse FROM patient WHERE id=(SELECT pk FROM cs_ids WHERE "
                                "gid=?)", (bytes.fromhex(gid),)).fetchone()
            finally:
                c.close()
            final = row[0] if row else None
            seen = set(o for _, o, _ in ws)
            for dev, _, v in ws:
                if v == final or v in seen:
                    continue
                self.lost_checked += 1
                missing = [n for n in seers if (gid, v) not in conf[n]]
                if missing:
                    self.fail("conflicts", "value %r written on %s to patient %s (gid %s) is neither "
                              "final (%r) nor overwritten by a writer who read it, and not in "
                              "cs_conflicts on %s" % (v, dev, p.tag, gid, final, ",".join(missing)))

    def check_canaries(self, names):
        self.canaries_found = 0
        blind = True
        for n in names:
            d = self.devs[n]
            data = b""
            for f in (d.db, d.db + "-wal"):
                if os.path.exists(f):
                    with open(f, "rb") as fh:
                        data += fh.read()
            found = set(m.group(0) for m in CANARY_RE.finditer(data))
            self.canaries_found += len(found)
            for tok in found:
                m = CANARY_RE.match(tok)
                tag = m.group(1).decode()
                p = self.patients.get(tag)
                if p is None:
                    continue
                if d.prac == p.owner:
                    blind = False
                if d.prac not in p.ever:
                    self.fail("canary", "%s (%s) holds the canary of patient %s (gid %s), never "
                              "shared with %s" % (n, d.prac, tag, p.gid, d.prac))
                fb = self.canary_forbidden.get(tok)
                # allowed again if the practitioner was granted the patient later
                if fb and d.prac in fb[0] and not any(g > fb[3] for g in p.granted_at[d.prac]):
                    self.fail("canary", "%s (%s) holds %s, written on patient %s (gid %s) after "
                              "its share with %s was revoked" % (n, d.prac, tok.decode(), tag,
                                                                 p.gid, d.prac))
        if blind:
            self.fail("canary", "the canary check is blind: no owner holds its own canaries")

    def report(self):
        ok = not any(self.inv.values())
        out = []
        w = out.append
        w("## cabsync soak: seed %d, %.1f min of workload, %d devices, %d patients"
          % (self.seed, self.a.minutes, len(self.devs), len(self.patients)))
        w("")
        w("devices: " + ", ".join("%s (h%d, %s%s%s%s)" % (
            d.name, d.host, d.prac, ", clock %+d min" % (d.skew_s // 60) if d.skew_s else "",
            ", %d MB tmpfs" % self.a.disk_mb if d.disk else "",
            ", part-time" if d.name == self.PARTTIME else "") for d in self.devs.values()))
        w("")
        w("### operations (%d row changes by the app)" % self.changes)
        for k, v in sorted(self.counts.items()):
            w("- %s: %d" % (k, v))
        w("")
        w("### faults (%d)" % sum(self.faults.values()))
        for k, v in sorted(self.faults.items()):
            w("- %s: %d" % (k, v))
        for line in self.fault_log:
            w("  - " + line)
        w("")
        ts = sorted(t for why, t in self.conv if why not in ("initial sync", "end (quiet period)"))
        w("### convergence after each heal (workload paused)")
        if ts:
            p99 = ts[min(len(ts) - 1, int(round(0.99 * (len(ts) - 1))))]
            w("- %d heals: p50 %.2f s, p99 %.2f s, max %.2f s" % (len(ts), statistics.median(ts), p99,
                                                              ts[-1]))
        nf = sum(1 for why, t, ok in self.heals
                 if not ok and why not in ("initial sync", "end (quiet period)"))
        if nf:
            w("- %d heals did not converge within %d s (not in the figures above)" % (nf, self.a.bound))
        for why, t in self.conv:
            if why in ("initial sync", "end (quiet period)"):
                w("- %s: %.2f s" % (why, t))
        if self.a.conv_data:
            self.write_conv_data(self.a.conv_data)
        w("")
        w("### wire")
        if getattr(self, "work_changes", 0):
            w("- %d TCP bytes through the bridge for %d row changes: %.0f bytes per change "
              "(every receiver, handshakes, pings, retransmissions included)"
              % (self.wire_bytes, self.work_changes, self.wire_bytes / self.work_changes))
        w("")
        w("### agents")
        for d in self.devs.values():
            ks = [k for _, k in d.rss]
            w("- %s: %d starts, RSS %s MB (after initial sync %d MB)" % (
                d.name, d.starts, "%d-%d" % (min(ks) // 1024, max(ks) // 1024) if ks else "?",
                self.rss_base.get(d.name, 0) // 1024 if hasattr(self, "rss_base") else 0))
        w("")
        w("### invariants")
        extra = {
            "conflicts": "%d losing values checked; cs_conflicts rows (adresse) per device: %s" % (
                getattr(self, "lost_checked", 0), getattr(self, "nconf", {})),
            "canary": "%d canaries found in db/wal files, %d post-revoke canaries" % (
                getattr(self, "canaries_found", 0), len(self.canary_forbidden)),
        }
        for k, v in self.inv.items():
            w("- %-10s %s%s" % (k, "ok" if not v else "FAIL (%d)" % len(v),
                               ("  [" + extra[k] + "]") if k in extra else ""))
            for m in v[:10]:
                w("    - " + m)
        w("")
        opts = "".join(" --%s %s" % (k.replace("_", "-"), getattr(self.a, k)) for k, v in
                       (("patients", 270), ("skew_min", -10), ("disk_mb", 24)) if getattr(self.a, k) != v)
        w("result: %s (replay: ./run soak %g --seed %d%s)" % ("PASS" if ok else "FAIL", self.a.minutes,
                                                              self.seed, opts))
        print("\n".join(out))
        sys.stdout.flush()
        return ok

    def write_conv_data(self, path):
        """--conv-data FILE: one line per heal (number, seconds, fault, and
        "not_converged" when it did not within --bound) for the plot of
        docs/PERFORMANCE.md (tests/bench/run-all.sh)."""
        n = 0
        with open(path, "w") as f:
            f.write("# heal seconds fault [not_converged] (soak seed %d, %g min, bound %d s)\n"
                    % (self.seed, self.a.minutes, self.a.bound))
            for why, t, ok in self.heals:
                if why in ("initial sync", "end (quiet period)"):
                    f.write("# %s: %.3f s%s\n" % (why, t, "" if ok else " (not converged)"))
                    continue
                n += 1
                f.write("%d %.3f %s%s\n" % (n, t, why.replace(" ", "_"), "" if ok else " not_converged"))

    def cleanup(self):
        for d in self.devs.values():
            if d.agent is not None and d.agent.poll() is None:
                d.agent.kill()
        self.lan.cleanup()
        if os.environ.get("CS_SOAK_KEEP"):
            log("kept " + self.tmp)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description="cabsync soak and chaos test (issue 9)")
    ap.add_argument("minutes", nargs="?", type=float, default=10.0)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--build", default="build")
    ap.add_argument("--src", default=".")
    ap.add_argument("--patients", type=int, default=270, help="initial patients (all devices)")
    ap.add_argument("--skew-min", type=int, default=-10, help="Bob's PC clock offset (minutes)")
    ap.add_argument("--disk-mb", type=int, default=24, help="Carol's tmpfs size")
    ap.add_argument("--rss-mb", type=int, default=int(os.environ.get("CS_SOAK_RSS_MB", "512")))
    ap.add_argument("--bound", type=int, default=60, help="seconds to converge after a heal")
    ap.add_argument("--conv-data", default=None, metavar="FILE",
                    help="write the time to converge after each heal to FILE")
    a = ap.parse_args()
    if a.seed is None:
        a.seed = int.from_bytes(os.urandom(2), "big")
    if a.skew_min and not os.path.exists(FAKETIME_LIB):
        log("libfaketime missing (apt-get install faketime): no clock skew")
        a.skew_min = 0
    s = Soak(a)

    def term(signum, frame):
        raise SystemExit(130)
    signal.signal(signal.SIGTERM, term)
    signal.signal(signal.SIGINT, term)
    ok = False
    try:
        s.run()
        ok = True
    except Skip as e:
        print("SKIPPED: soak: %s" % e)
        s.cleanup()
        sys.exit(77)
    except Exception as e:
        import traceback
        traceback.print_exc()
        s.violations.append(str(e))
        s.inv.setdefault("harness", []).append("harness error: %s (seed %d)" % (e, s.seed))
    finally:
        try:
            passed = s.report() and ok
        finally:
            s.cleanup()
    sys.exit(0 if passed else 1)


if __name__ == "__main__":
    main()
