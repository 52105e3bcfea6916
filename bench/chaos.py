#!/usr/bin/env python3
"""Chaos under load (run by bench/chaos.sh; see bench/README.md).

wrk sends requests through tend's gateway to three apps for the whole run while a seeded
loop does, one at a time: kill -9 of an instance, reload, scale, restart, kill -9 of the
daemon (the next command starts a new one, which adopts the apps), and filling then
freeing the small tmpfs that TEND_HOME is. After every action, once tend has settled, it
checks:

  - every process tend started (TEND_SUPERVISED_BY=$TEND_HOME in its environment) is one
    `tend list` shows, and every pid `tend list` shows is alive;
  - no app instance runs twice (TEND_APP_NAME, TEND_INSTANCE);
  - no port is listened on by two processes;
  - each app has the instances it was told to have.

A check that still fails after 15 s is a violation. The daemon's RSS and open fds are
sampled every 2 s. At the end: wrk's answers by status and cause, the violations, the
RSS and fd curves; written as Markdown (the "Chaos under load" section of
docs/RELIABILITY.md) and as raw files in the work folder. Exit status 1 when an invariant
was broken or a request failed for a cause other than the ones the run provoked.
"""

import argparse
import errno
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

APPS = {  # name: (instances at start, ports in its range)
    "web": (3, 6),
    "api": (2, 6),
    "solo": (1, 1),
}


def log(msg):
    print(f"[chaos {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def free_port_run(count, taken):
    """The first port of `count` consecutive free loopback ports, none of them in `taken`."""
    for base in range(21000, 60000, 97):
        if taken & set(range(base, base + count)):
            continue
        socks = []
        try:
            for p in range(base, base + count):
                s = socket.socket()
                s.bind(("127.0.0.1", p))
                socks.append(s)
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no free ports")


class Tend:
    def __init__(self, binary, home):
        self.binary = binary
        self.home = home
        self.env = dict(os.environ, TEND_HOME=home)

    def run(self, *args, timeout=120):
        try:
            p = subprocess.run([self.binary, *args], env=self.env, capture_output=True,
                               text=True, timeout=timeout, stdin=subprocess.DEVNULL)
            return p.returncode, (p.stdout + p.stderr).strip()
        except subprocess.TimeoutExpired:
            return 124, f"timed out after {timeout} s"

    def list(self):
        rc, out = self.run("list", "--json", timeout=30)
        if rc != 0:
            return None
        try:
            return json.loads(out)
        except ValueError:
            return None

    def daemon_pid(self):
        try:
            with open(os.path.join(self.home, "tend.pid")) as f:
                pid = int(f.read().strip())
            os.kill(pid, 0)
            return pid
        except (OSError, ValueError):
            return 0


def supervised_processes(home):
    """pid -> (app, instance) of every process whose environment says tend started it."""
    marker = f"TEND_SUPERVISED_BY={home}".encode()
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                env = f.read().split(b"\0")
            with open(f"/proc/{entry}/stat", "rb") as f:
                if f.read().rsplit(b")", 1)[1].split()[0] == b"Z":
                    continue  # a zombie: exited, not yet reaped
        except OSError:
            continue
        if marker not in env:
            continue
        fields = dict(e.split(b"=", 1) for e in env if b"=" in e)
        found[int(entry)] = (fields.get(b"TEND_APP_NAME", b"?").decode(),
                             fields.get(b"TEND_INSTANCE", b"?").decode())
    return found


def listeners(ports):
    """port -> set of pids listening on it, for the given ports."""
    out = subprocess.run(["ss", "-Hltnp"], capture_output=True, text=True).stdout
    result = {}
    for line in out.splitlines():
        cols = line.split()
        if len(cols) < 4:
            continue
        port = int(cols[3].rsplit(":", 1)[1])
        if port not in ports:
            continue
        pids = {int(p) for p in re.findall(r"pid=(\d+)", line)}
        result.setdefault(port, set()).update(pids)
    return result


class Sampler(threading.Thread):
    """The daemon's RSS (KiB) and open fds every `period` seconds."""

    def __init__(self, tend, start, period=2.0):
        super().__init__(daemon=True)
        self.tend, self.start_time, self.period = tend, start, period
        self.samples = []  # (t, pid, rss_kib, fds)
        self.stop = threading.Event()

    def run(self):
        while not self.stop.wait(self.period):
            pid = self.tend.daemon_pid()
            if not pid:
                continue
            try:
                with open(f"/proc/{pid}/status") as f:
                    rss = int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))
                fds = len(os.listdir(f"/proc/{pid}/fd"))
            except (OSError, AttributeError):
                continue
            self.samples.append((time.time() - self.start_time, pid, rss, fds))


class Chaos:
    def __init__(self, args, work, tend, ports, gateway_port):
        self.args, self.work, self.tend = args, work, tend
        self.ports, self.gateway_port = ports, gateway_port
        self.rng = random.Random(args.seed)
        self.desired = {name: n for name, (n, _) in APPS.items()}
        self.actions = []  # (t, action, detail, exit status, output)
        self.violations = []  # (t, after action, what)
        self.disk_full = False
        self.start = time.time()
        self.daemon_kills = 0
        self.downtime = []  # seconds from a daemon's death to the next one answering
        self.instance_kills = 0

    def t(self):
        return time.time() - self.start

    def record(self, action, detail, rc=0, out=""):
        self.actions.append((self.t(), action, detail, rc, out.replace("\n", " ")[:160]))
        log(f"{action} {detail} -> {rc} {out[:100]!r}")

    # --- actions -------------------------------------------------------------------
    def kill_instance(self):
        procs = supervised_processes(self.tend.home)
        if not procs:
            return self.record("kill -9 instance", "none running")
        pid = self.rng.choice(sorted(procs))
        try:
            os.kill(pid, signal.SIGKILL)
            self.instance_kills += 1
        except OSError:
            pass
        self.record("kill -9 instance", f"{procs[pid][0]}[{procs[pid][1]}] pid {pid}")

    def reload(self):
        app = self.rng.choice(sorted(APPS))
        self.record("reload", app, *self.tend.run("reload", app))

    def restart(self):
        app = self.rng.choice(sorted(APPS))
        self.record("restart", app, *self.tend.run("restart", app))

    def scale(self):
        app = self.rng.choice([a for a, (_, r) in APPS.items() if r > 1])
        n = self.rng.randint(1, 4)
        rc, out = self.tend.run("scale", app, str(n))
        if rc == 0:
            self.desired[app] = n
        self.record("scale", f"{app} {n}", rc, out)

    def kill_daemon(self):
        pid = self.tend.daemon_pid()
        if pid:
            os.kill(pid, signal.SIGKILL)
            self.daemon_kills += 1
            deadline = time.time() + 10
            while time.time() < deadline and os.path.exists(f"/proc/{pid}"):
                time.sleep(0.01)
        # The next command starts a new daemon, which adopts the running apps.
        began = time.time()
        rc, out = self.tend.run("ping")
        self.downtime.append(time.time() - began)
        self.record("kill -9 daemon", f"pid {pid}, then tend ping", rc, out)

    def fill_disk(self):
        if not self.args.tmpfs:
            return self.record("fill disk", "skipped: TEND_HOME is not a tmpfs of ours")
        filler = os.path.join(self.tend.home, "filler")
        written = 0
        with open(filler, "wb") as f:
            chunk = b"\0" * (1 << 20)
            try:
                while True:
                    written += os.write(f.fileno(), chunk)
            except OSError as e:
                if e.errno != errno.ENOSPC:
                    raise
        self.disk_full = True
        self.record("fill disk", f"{written >> 20} MiB until ENOSPC")
        # Two other actions while the disk is full: they may fail, but must fail cleanly.
        for _ in range(2):
            self.rng.choice([self.kill_instance, self.reload, self.restart, self.scale,
                             self.kill_daemon])()
            time.sleep(1)
        time.sleep(3)
        os.unlink(filler)
        self.disk_full = False
        self.record("free disk", "")

    # --- invariants ----------------------------------------------------------------
    def problems(self):
        """What is wrong right now (empty when every invariant holds)."""
        found = []
        listing = self.tend.list()
        if listing is None:
            return ["tend list failed"]
        procs = supervised_processes(self.tend.home)
        known = {i["pid"] for i in listing if i.get("pid")}
        unknown = set(procs) - known
        if unknown:
            found.append(f"processes tend does not list: {sorted((p, procs[p]) for p in unknown)}")
        dead = {p for p in known if not os.path.exists(f"/proc/{p}")}
        if dead:
            found.append(f"tend lists pids that do not exist: {sorted(dead)}")
        seen = {}
        for pid, key in procs.items():
            seen.setdefault(key, []).append(pid)
        twice = {k: v for k, v in seen.items() if len(v) > 1}
        if twice:
            found.append(f"instances running twice: {twice}")
        held = listeners(self.ports)
        shared = {p: s for p, s in held.items() if len(s) > 1}
        if shared:
            found.append(f"ports held by more than one process: {shared}")
        for app, want in self.desired.items():
            rows = [i for i in listing if i["name"] == app]
            indexes = [i["instance"] for i in rows]
            if sorted(indexes) != list(range(want)):
                found.append(f"{app}: instances {sorted(indexes)}, expected 0..{want - 1}")
            not_online = [(i["instance"], i["status"]) for i in rows if i["status"] != "online"]
            if not_online:
                found.append(f"{app}: not online: {not_online}")
        return found

    def check(self, after):
        deadline = time.time() + 15
        while True:
            found = self.problems()
            if not found:
                return
            if time.time() > deadline:
                for what in found:
                    self.violations.append((self.t(), after, what))
                    log(f"VIOLATION after {after}: {what}")
                return
            time.sleep(0.25)

    def run(self, until):
        # Daemon kills and full disks happen in the first 60% of the run, so the last
        # daemon lives long enough for its RSS and fd curves to say something.
        violent_until = self.start + 0.6 * (until - self.start)
        while time.time() < until:
            calm = time.time() > violent_until
            choices = [(self.kill_instance, 30), (self.reload, 15), (self.restart, 15),
                       (self.scale, 15)]
            if not calm:
                choices += [(self.kill_daemon, 8), (self.fill_disk, 6)]
            action = self.rng.choices([c for c, _ in choices], [w for _, w in choices])[0]
            action()
            self.check(self.actions[-1][1])
            time.sleep(self.rng.uniform(1.0, 4.0))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tend", required=True)
    ap.add_argument("--backend", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--home", required=True)
    ap.add_argument("--tmpfs", action="store_true", help="--home is a tmpfs this run mounted")
    ap.add_argument("--duration", type=int, default=600, help="seconds of load")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--connections", type=int, default=4, help="wrk connections per app")
    ap.add_argument("--markdown", required=True)
    args = ap.parse_args()

    tend = Tend(args.tend, args.home)
    gateway_port = free_port_run(1, set())
    ranges, ports = {}, {gateway_port}
    for name, (_, width) in APPS.items():
        first = free_port_run(width, ports)
        ranges[name] = first
        ports.update(range(first, first + width))
    config = f"gateway:\n  listen: 127.0.0.1:{gateway_port}\napps:\n"
    for name, (n, width) in APPS.items():
        port = ranges[name] if width == 1 else f'"{ranges[name]}-{ranges[name] + width - 1}"'
        config += (f"  - name: {name}\n    run: [{args.backend}]\n    instances: {n}\n"
                   f"    port: {port}\n    on_demand:\n      hosts: [{name}.localhost]\n"
                   f"      idle_timeout: 1h\n")
    cfg = os.path.join(args.work, "tend.yaml")
    with open(cfg, "w") as f:
        f.write(config)
    rc, out = tend.run("start", cfg)
    if rc != 0:
        log(f"tend start failed: {out}")
        return 2
    for name in APPS:  # start every app before the load begins
        subprocess.run(["curl", "-s", "-o", "/dev/null", "-m", "20", "-H", f"Host: {name}.localhost",
                        f"http://127.0.0.1:{gateway_port}/"], check=False)

    start = time.time()
    sampler = Sampler(tend, start)
    sampler.start()
    lua = os.path.join(os.path.dirname(os.path.abspath(__file__)), "chaos.lua")
    wrks = {}
    for name in APPS:
        out_file = os.path.join(args.work, f"wrk-{name}.tsv")
        wrks[name] = (subprocess.Popen(
            ["wrk", "-t1", f"-c{args.connections}", f"-d{args.duration}s", "--timeout", "15s",
             "-s", lua, "-H", f"Host: {name}.localhost", f"http://127.0.0.1:{gateway_port}/whoami"],
            env=dict(os.environ, CHAOS_OUT=out_file), stdout=subprocess.PIPE, text=True), out_file)

    chaos = Chaos(args, args.work, tend, ports, gateway_port)
    chaos.start = start
    # The last 20 s are calm, so that the final state is judged with nothing in flight.
    chaos.run(start + args.duration - 20)
    outputs = {name: p.communicate()[0] for name, (p, _) in wrks.items()}
    chaos.check("the end of the load")
    sampler.stop.set()
    sampler.join()

    # --- results -------------------------------------------------------------------
    buckets = {}  # (status, cause) -> count
    per_app = {}
    for name, (_, out_file) in wrks.items():
        total = 0
        try:
            with open(out_file) as f:
                for line in f:
                    count, status, cause = (line.rstrip("\n").split("\t") + ["", ""])[:3]
                    count = int(count)
                    if count == 0:
                        continue
                    cause = re.sub(r"\d+", "N", cause.strip())
                    buckets[(status, cause)] = buckets.get((status, cause), 0) + count
                    if status.isdigit():
                        total += count
        except OSError:
            pass
        per_app[name] = total
    answered = sum(c for (s, _), c in buckets.items() if s.isdigit())
    ok = sum(c for (s, _), c in buckets.items() if s.isdigit() and 200 <= int(s) < 300)

    with open(os.path.join(args.work, "samples.csv"), "w") as f:
        f.write("t_s,pid,rss_kib,fds\n")
        for t, pid, rss, fds in sampler.samples:
            f.write(f"{t:.1f},{pid},{rss},{fds}\n")
    with open(os.path.join(args.work, "actions.tsv"), "w") as f:
        for a in chaos.actions:
            f.write("\t".join(str(x) for x in a) + "\n")

    # The curves per daemon life; flatness judged on the last one, after 60 s of warm-up.
    lives = []
    for t, pid, rss, fds in sampler.samples:
        if not lives or lives[-1]["pid"] != pid:
            lives.append({"pid": pid, "samples": []})
        lives[-1]["samples"].append((t, rss, fds))
    flat = None
    last = lives[-1]["samples"] if lives else []
    warm = [s for s in last if s[0] - last[0][0] >= 60] if last else []
    if len(warm) >= 30:
        head, tail = warm[: len(warm) // 4], warm[-(len(warm) // 4):]
        rss_head = sum(s[1] for s in head) / len(head)
        rss_tail = sum(s[1] for s in tail) / len(tail)
        fds_head = max(s[2] for s in head)
        fds_tail = max(s[2] for s in tail)
        flat = {"minutes": (warm[-1][0] - warm[0][0]) / 60, "rss_head": rss_head,
                "rss_tail": rss_tail, "fds_head": fds_head, "fds_tail": fds_tail,
                "rss_ok": rss_tail <= rss_head * 1.10 + 1024, "fds_ok": fds_tail <= fds_head + 8}

    # Failures the run provoked: a request in flight on an instance or a daemon that was
    # killed. Anything else is a failure of tend.
    def provoked(status, cause):
        if status == "502":
            return True  # the gateway's answer for a request its instance died under
        return status in ("connect", "read", "write", "timeout") and chaos.daemon_kills > 0

    unexpected = {k: c for k, c in buckets.items()
                  if not (k[0].isdigit() and 200 <= int(k[0]) < 300) and not provoked(*k)}

    md = []
    md.append(f"Run of {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(start))}: "
              f"`bench/chaos.sh {args.duration} {args.seed}` (seed {args.seed}), "
              f"{args.duration} s of load, `{os.uname().nodename}` with {os.cpu_count()} cores.\n")
    md.append("Load: one `wrk -t1 -c{0}` per app (`web` 3 instances, `api` 2, `solo` 1), "
              "`GET /whoami` through the gateway, keep-alive.\n".format(args.connections))
    counts = {}
    for a in chaos.actions:
        counts[a[1]] = counts.get(a[1], 0) + 1
    md.append("| action | times | of which exited non-zero |")
    md.append("| --- | --- | --- |")
    for name in sorted(counts):
        failed = sum(1 for a in chaos.actions if a[1] == name and a[3] != 0)
        md.append(f"| {name} | {counts[name]} | {failed} |")
    md.append("")
    md.append(f"Answered: **{answered:,}** requests, **{ok:,}** 2xx "
              f"({100.0 * ok / max(answered, 1):.4f}%).\n")
    if chaos.downtime:
        md.append(f"The gateway is the daemon: after each of the {len(chaos.downtime)} kill -9s "
                  f"it was down until `tend ping` had started the next daemon "
                  f"({sum(chaos.downtime):.2f} s in all, at most {max(chaos.downtime):.2f} s). "
                  "wrk's connect, read and write errors are its connections cut by those kills "
                  "and its reconnect attempts meanwhile (a refused connect counts as a write "
                  "error).\n")
    md.append("| status or wrk error | cause (the body's first words) | count |")
    md.append("| --- | --- | --- |")
    for (status, cause), count in sorted(buckets.items(), key=lambda kv: -kv[1]):
        md.append(f"| {status} | {cause.replace('|', '/') or '-'} | {count:,} |")
    md.append("")
    md.append(f"Invariant violations: **{len(chaos.violations)}**" +
              ("." if not chaos.violations else ":"))
    for t, after, what in chaos.violations[:20]:
        md.append(f"- at {t:.0f} s, after {after}: {what}")
    md.append("")
    md.append("Daemon RSS and open fds (every 2 s; one row per 30 s; a new pid is a new daemon "
              "after a kill -9):\n")
    md.append("| t (s) | daemon pid | RSS (MiB) | open fds |")
    md.append("| --- | --- | --- | --- |")
    next_row = 0.0
    for t, pid, rss, fds in sampler.samples:
        if t >= next_row:
            md.append(f"| {t:.0f} | {pid} | {rss / 1024:.1f} | {fds} |")
            next_row = t + 30
    md.append("")
    if flat:
        md.append(f"Flat after warm-up (the last daemon, {flat['minutes']:.1f} min after its first "
                  f"60 s): RSS {flat['rss_head'] / 1024:.1f} MiB in the first quarter, "
                  f"{flat['rss_tail'] / 1024:.1f} MiB in the last "
                  f"({'flat' if flat['rss_ok'] else '**grew**'}); open fds at most "
                  f"{flat['fds_head']} then {flat['fds_tail']} "
                  f"({'flat' if flat['fds_ok'] else '**grew**'}).\n")
    else:
        md.append("Flatness: not judged (the last daemon lived less than 2 minutes).\n")
    if unexpected:
        md.append("Failures not provoked by the run: " +
                  ", ".join(f"{s} {c!r}: {n}" for (s, c), n in unexpected.items()) + "\n")
    with open(args.markdown, "w") as f:
        f.write("\n".join(md) + "\n")
    for name, text in outputs.items():
        with open(os.path.join(args.work, f"wrk-{name}.txt"), "w") as f:
            f.write(text)
    failed = bool(chaos.violations or unexpected or (flat and not (flat["rss_ok"] and flat["fds_ok"])))
    log(f"{answered} answered, {ok} 2xx, {len(chaos.violations)} violations, "
        f"{'FAILED' if failed else 'passed'}; report in {args.markdown}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
