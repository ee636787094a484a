"""Portal figures: submit -> process start, page latency under 50 concurrent users, peak memory.

Starts a real portal (SQLite under a temporary CUDASWITCH_HOME, the default two workers) on
loopback, with slots from real NVIDIA runtime wheels found by discovery. Load is bounded:
each simulated user makes a fixed number of requests, one after another, and the run stops at
a time limit whatever happens. Page latency is reported next to ``/healthz`` (no database, no
template) measured in the same run, so the ratio survives a noisy machine.

    uv run python bench/portal_bench.py --search-path ~/.cache/cudaswitch-tests/targets
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import httpx

PASSWORD = "bench password 1"


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


def cli(env: dict, *args: str, stdin: str | None = None) -> str:
    r = subprocess.run([sys.executable, "-m", "cudaswitch.cli.main", "portal", *args], env=env,
                       input=stdin, capture_output=True, text=True, check=True)
    return r.stdout.strip()


def login(c: httpx.Client, user: str) -> None:
    token = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/login").text).group(1)
    r = c.post("/login", data={"username": user, "password": PASSWORD, "csrf_token": token})
    assert r.status_code == 303, r.text


def peak_rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        return int(next(ln for ln in f if ln.startswith("VmHWM:")).split()[1])


def submit_to_start(base: str, token: str, jobs: int) -> list[float]:
    """Seconds from sending the submission to the job's process having been started."""
    h = {"Authorization": f"Bearer {token}"}
    out = []
    with httpx.Client(base_url=base, headers=h, timeout=30) as c:
        for _ in range(jobs):
            sent = time.time()
            job = c.post("/api/jobs", data={"kind": "command", "command": "noop",
                                            "slot": "cuda12.4", "provider": "cpu"}).json()
            while True:
                j = c.get(f"/api/jobs/{job['id']}").json()
                if j["state"] in ("succeeded", "failed"):
                    break
                time.sleep(0.02)
            assert j["state"] == "succeeded", j
            out.append(j["started_at"] - sent)
    return out


async def load(base: str, cookies: list[httpx.Cookies], paths: list[str], per_user: int,
               limit_s: float) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {p: [] for p in paths}
    deadline = time.monotonic() + limit_s
    limits = httpx.Limits(max_connections=len(cookies))

    async def user(i: int, client: httpx.AsyncClient) -> None:
        for n in range(per_user):
            if time.monotonic() > deadline:
                return
            path = paths[(i + n) % len(paths)]
            t0 = time.perf_counter()
            r = await client.get(path, cookies=cookies[i])
            times[path].append(time.perf_counter() - t0)
            assert r.status_code == 200, (path, r.status_code)

    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as client:
        await asyncio.gather(*(user(i, client) for i in range(len(cookies))))
    return times


def seed_history(home: str, count: int) -> tuple[int, int]:
    """``count`` finished jobs written straight into the portal's database (as a long-lived
    portal would have them), so the first and the last page of the list can be timed side by
    side; (lowest id, highest id)."""
    from cudaswitch.portal.config import default_config
    from cudaswitch.portal.db import Database
    from cudaswitch.portal.models import Job

    db = Database(default_config({"CUDASWITCH_HOME": home}).database_url)
    now = time.time()
    with db.session() as s:
        rows = [Job(kind="command", command_name="noop", slot="cuda12.4", slot_source="bench",
                    slot_cuda="12.4.127", provider="cpu", device="cpu", options_json="{}",
                    state="succeeded", owner="admin", created_at=now, started_at=now,
                    finished_at=now, attempts=1, interruptions=0, exit_code=0, reason="",
                    progress=1.0, cancel_requested=False) for _ in range(count)]
        s.add_all(rows)
        s.flush()
        ids = (rows[0].id, rows[-1].id)
    db.dispose()
    return ids


def one_at_a_time(base: str, cookies: httpx.Cookies, paths: list[str],
                  rounds: int) -> dict[str, list[float]]:
    """Each page in turn, ``rounds`` times, from one client: what a page costs by itself,
    pages interleaved so a burst of load elsewhere on the machine hits them all alike."""
    times: dict[str, list[float]] = {p: [] for p in paths}
    with httpx.Client(base_url=base, cookies=cookies, timeout=60) as c:
        for _ in range(rounds):
            for path in paths:
                t0 = time.perf_counter()
                r = c.get(path)
                times[path].append(time.perf_counter() - t0)
                assert r.status_code == 200, (path, r.status_code)
    return times


def hey_run(base: str, cookie: str, path: str, requests: int, users: int) -> dict:
    """The same page under Debian's ``hey`` (a Go load generator, so the client's own cost is
    small next to the Python client above): a fixed number of requests, ``users`` at once."""
    out = subprocess.run(["hey", "-n", str(requests), "-c", str(users), "-t", "60",
                          "-H", f"Cookie: cs_session={cookie}", base + path],
                         capture_output=True, text=True, timeout=300, check=True).stdout
    found = dict(re.findall(r"\s(\d+)% in ([\d.]+) secs", out))
    codes = dict(re.findall(r"\[(\d+)\]\s+(\d+) responses", out))
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    return {"p50": float(found["50"]) * 1e3, "p95": float(found["95"]) * 1e3,
            "rps": float(rps.group(1)) if rps else None, "codes": codes}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--search-path", required=True, help="a folder of NVIDIA runtime wheels")
    ap.add_argument("--users", type=int, default=50)
    ap.add_argument("--requests-per-user", type=int, default=20)
    ap.add_argument("--jobs", type=int, default=20)
    ap.add_argument("--limit", type=float, default=120.0, help="seconds, for the load phase")
    ap.add_argument("--port", type=int, default=8791)
    ap.add_argument("--hey-requests", type=int, default=1000,
                    help="requests per page under hey (0: skip; needs Debian's hey)")
    ap.add_argument("--history", type=int, default=0,
                    help="finished jobs to seed before the run; adds the first, the last and "
                         "a 200-job page of the list to the hey pages")
    ap.add_argument("--paging-rounds", type=int, default=200,
                    help="with --history: rounds of the one-client paging comparison")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    home = tempfile.mkdtemp(prefix="portal-bench-")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CUDASWITCH_")}
    env.update(CUDASWITCH_HOME=home, CUDASWITCH_CONFIG=os.devnull,
               CUDASWITCH_PATH=os.path.expanduser(args.search_path))
    cli(env, "user", "add", "admin", "--role", "admin", "--password-stdin",
        stdin=PASSWORD + "\n")
    for i in range(args.users):
        cli(env, "user", "add", f"user{i}", "--role", "runner", "--password-stdin",
            stdin=PASSWORD + "\n")
    token = cli(env, "token", "admin")
    seeded = seed_history(home, args.history) if args.history else None
    base = f"http://127.0.0.1:{args.port}"
    proc = subprocess.Popen([sys.executable, "-m", "cudaswitch.cli.main", "portal", "--port",
                             str(args.port)], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        for _ in range(300):
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        with httpx.Client(base_url=base) as admin:
            login(admin, "admin")
            csrf = re.search(r'name="csrf_token" value="([^"]+)"',
                             admin.get("/account").text).group(1)
            admin.post("/admin/command", data={"name": "noop", "csrf_token": csrf,
                                               "command_line": shlex.join(["/bin/true"])})
        starts = submit_to_start(base, token, args.jobs)
        job_id = httpx.get(base + "/api/jobs", headers={"Authorization": f"Bearer {token}"}
                           ).json()["jobs"][0]["id"]
        cookies = []
        for i in range(args.users):
            with httpx.Client(base_url=base) as c:
                login(c, f"user{i}")
                cookies.append(c.cookies)
        paths = ["/healthz", "/jobs", "/runtimes", f"/api/jobs/{job_id}", f"/jobs/{job_id}"]
        t0 = time.perf_counter()
        times = asyncio.run(load(base, cookies, paths, args.requests_per_user, args.limit))
        wall = time.perf_counter() - t0
        hey = {}
        if args.hey_requests and shutil.which("hey"):
            session = cookies[0].get("cs_session")
            pages = list(paths)
            if seeded:  # the newest page, the oldest page, and the largest page allowed
                pages += [f"/jobs?before={seeded[0] + 50}", "/api/jobs",
                          f"/api/jobs?before={seeded[0] + 50}", "/api/jobs?limit=200"]
            hey = {p: hey_run(base, session, p, args.hey_requests, args.users) for p in pages}
        paging = {}
        if seeded:
            paging = one_at_a_time(base, cookies[0], [
                "/healthz", "/jobs", f"/jobs?before={seeded[0] + 50}", "/api/jobs",
                f"/api/jobs?before={seeded[0] + 50}", "/api/jobs?limit=200"],
                args.paging_rounds)
        rss = peak_rss_kib(proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    base_p50 = statistics.median(times["/healthz"])
    result = {
        "submit_to_start_ms": {"p50": statistics.median(starts) * 1e3,
                               "p95": pct(starts, 95) * 1e3, "n": len(starts)},
        "pages_ms": {p: {"p50": statistics.median(v) * 1e3, "p95": pct(v, 95) * 1e3,
                         "n": len(v), "p50_vs_healthz": statistics.median(v) / base_p50}
                     for p, v in times.items() if v},
        "requests": sum(len(v) for v in times.values()), "seconds": wall,
        "users": args.users, "history": args.history,
        "paging_ms": {p: {"p50": statistics.median(v) * 1e3, "p95": pct(v, 95) * 1e3,
                          "n": len(v)} for p, v in paging.items()},
        "peak_rss_mib": rss / 1024, "hey_ms": hey,
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    s = result["submit_to_start_ms"]
    print(f"submit -> process start: p50 {s['p50']:.0f} ms, p95 {s['p95']:.0f} ms "
          f"({s['n']} jobs, one at a time)")
    print(f"{result['requests']} page requests from {args.users} concurrent users in "
          f"{wall:.1f} s ({result['requests'] / wall:.0f} req/s)")
    print(f"{'page':<22} {'p50 ms':>8} {'p95 ms':>8} {'p50/healthz':>12}")
    for p, v in result["pages_ms"].items():
        print(f"{p:<22} {v['p50']:>8.1f} {v['p95']:>8.1f} {v['p50_vs_healthz']:>12.1f}")
    if hey:
        print(f"under hey ({args.hey_requests} requests per page, {args.users} at once, one "
              "session):")
        print(f"{'page':<28} {'p50 ms':>8} {'p95 ms':>8} {'req/s':>8}  status codes")
        for p, v in hey.items():
            print(f"{p:<28} {v['p50']:>8.1f} {v['p95']:>8.1f} {v['rps'] or 0:>8.0f}  {v['codes']}")
    if paging:
        first = result["paging_ms"]["/jobs"]["p50"]
        print(f"paging over {args.history + args.jobs} jobs, one client, "
              f"{args.paging_rounds} rounds:")
        print(f"{'page':<28} {'p50 ms':>8} {'p95 ms':>8} {'p50/first page':>15}")
        for p, v in result["paging_ms"].items():
            print(f"{p:<28} {v['p50']:>8.1f} {v['p95']:>8.1f} {v['p50'] / first:>15.2f}")
    print(f"portal process peak memory (VmHWM): {result['peak_rss_mib']:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
