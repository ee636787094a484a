"""Admission webhook figures: throughput and p50/p99 latency of cudaswitch's mutating webhook
under load over HTTPS on loopback, with kopf's own ``WebhookServer`` measured in the same run.

Both servers are real processes on 127.0.0.1 with certificates made here by openssl (a CA and
a server certificate; each server is checked once with a client that verifies them). The load
tool is ``wrk`` from Debian (``apt-get install wrk``), run for a fixed time per measurement
with a fixed number of connections, POSTing one real ``admission.k8s.io/v1`` AdmissionReview
as an apiserver sends it: a pod annotated ``cudaswitch.io/runtime: facefusion-cuda12`` with a
GPU container and a sidecar, so cudaswitch answers with the full JSONPatch (env and the node
affinity, ~35 KB of response). The anchor is kopf's ``WebhookServer`` (the aiohttp server
every kopf operator's webhooks run on) with a trivial handler that allows the review and
patches nothing: kopf at its cheapest. The servers take turns, alternating order each round,
so a busy machine weighs on both; the ratio is computed per round.

    uv run python bench/k8s_webhook_bench.py --duration 10 --rounds 3 [--workers 2]

Every request carries ``Accept-Encoding: gzip``, as kube-apiserver's Go client sends it (to
both servers; ``--identity`` leaves it out): cudaswitch then answers a placed pod with ~2 KB of
gzip instead of ~35 KB, and kopf's server answers as it always does. ``--workers N`` runs
cudaswitch's webhook as N processes on the port (kopf's ``WebhookServer`` is one); its CPU
figure is all of them together.

Prints a table and, with ``--json``, the raw figures. Any non-2xx answer or socket error
during a measurement is reported next to the figures (a fast wrong answer is not a result).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "deploy" / "examples" / "cudaruntimes.yaml"
IMAGE = "ghcr.io/example/facefusion:3.1"

KOPF_SERVER = r"""
import asyncio, sys
import kopf

async def allow(request, **_):
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "response": {"uid": request["request"]["uid"], "allowed": True}}

async def main(cert, key):
    server = kopf.WebhookServer(addr="127.0.0.1", port=int(sys.argv[3]), certfile=cert,
                                pkeyfile=key, host="localhost")
    async for config in server(allow):
        print("listening on " + config["url"].rstrip("/"), file=sys.stderr, flush=True)

if sys.argv[4] == "uvloop":  # as kopf's own command line runs it when uvloop is installed
    import uvloop
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main(sys.argv[1], sys.argv[2]))
else:
    asyncio.run(main(sys.argv[1], sys.argv[2]))
"""

WRK_SCRIPT = """
local f = assert(io.open(os.getenv("BENCH_BODY"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
if os.getenv("BENCH_GZIP") == "1" then
    wrk.headers["Accept-Encoding"] = "gzip"  -- as kube-apiserver's Go client sends it
end
if os.getenv("BENCH_DISTINCT") == "1" then  -- every review a pod not seen before
    local n = 0
    request = function()
        n = n + 1
        local body = wrk.body:gsub('"generateName": "', '"generateName": "p' .. n .. '-', 1)
        return wrk.format(nil, nil, nil, body)
    end
end
"""


def make_certs(folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    ca_key, ca_crt = folder / "ca.key", folder / "ca.crt"
    key, csr, crt, ext = folder / "tls.key", folder / "tls.csr", folder / "tls.crt", \
        folder / "san.ext"
    ext.write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")

    def ossl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True)
    ossl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-keyout", str(ca_key), "-out", str(ca_crt), "-days", "1", "-subj", "/CN=bench-ca")
    ossl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-keyout", str(key), "-out", str(csr), "-subj", "/CN=localhost")
    ossl("x509", "-req", "-in", str(csr), "-CA", str(ca_crt), "-CAkey", str(ca_key),
         "-CAcreateserial", "-out", str(crt), "-days", "1", "-extfile", str(ext))
    return {"ca": ca_crt, "cert": crt, "key": key}


def review_body(annotation: tuple[str, str] = ("cudaswitch.io/runtime",
                                              "facefusion-cuda12")) -> bytes:
    """An AdmissionReview as kube-apiserver 1.30 sends it for a pod CREATE."""
    pod = {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"generateName": "facefusion-7d9f8c6b5-", "namespace": "ml",
                     "labels": {"app": "facefusion", "pod-template-hash": "7d9f8c6b5"},
                     "annotations": dict([annotation]),
                     "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                                          "name": "facefusion-7d9f8c6b5",
                                          "uid": str(uuid.UUID(int=1)), "controller": True,
                                          "blockOwnerDeletion": True}]},
        "spec": {
            "containers": [
                {"name": "app", "image": IMAGE, "args": ["headless-run"],
                 "ports": [{"containerPort": 7860, "protocol": "TCP"}],
                 "resources": {"limits": {"nvidia.com/gpu": "1", "memory": "16Gi"},
                               "requests": {"cpu": "2", "memory": "8Gi",
                                            "nvidia.com/gpu": "1"}},
                 "volumeMounts": [{"name": "assets", "mountPath": "/app/.assets"}],
                 "terminationMessagePath": "/dev/termination-log",
                 "terminationMessagePolicy": "File", "imagePullPolicy": "IfNotPresent"},
                {"name": "metrics", "image": "docker.io/prom/statsd-exporter:v0.26.0",
                 "resources": {}, "terminationMessagePath": "/dev/termination-log",
                 "terminationMessagePolicy": "File", "imagePullPolicy": "IfNotPresent"}],
            "volumes": [{"name": "assets", "emptyDir": {}}],
            "restartPolicy": "Always", "terminationGracePeriodSeconds": 30,
            "dnsPolicy": "ClusterFirst", "serviceAccountName": "default",
            "schedulerName": "default-scheduler", "priority": 0,
            "enableServiceLinks": True, "preemptionPolicy": "PreemptLowerPriority",
            "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists",
                             "effect": "NoSchedule"}]},
        "status": {}}
    group = {"group": "", "version": "v1"}
    return json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                       "request": {
                           "uid": str(uuid.uuid4()), "kind": {**group, "kind": "Pod"},
                           "resource": {**group, "resource": "pods"},
                           "requestKind": {**group, "kind": "Pod"},
                           "requestResource": {**group, "resource": "pods"},
                           "namespace": "ml", "operation": "CREATE",
                           "userInfo": {"username": "system:serviceaccount:kube-system:"
                                                    "replicaset-controller",
                                        "uid": str(uuid.UUID(int=2)),
                                        "groups": ["system:serviceaccounts",
                                                   "system:serviceaccounts:kube-system",
                                                   "system:authenticated"]},
                           "object": pod, "oldObject": None, "dryRun": False,
                           "options": {"kind": "CreateOptions",
                                       "apiVersion": "meta.k8s.io/v1"}}}).encode()


def start(argv: list[str], env: dict, timeout: float = 60.0) -> tuple[subprocess.Popen, str]:
    """A server that prints ``listening on URL`` on stderr; its stderr is drained after."""
    proc = subprocess.Popen(argv, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,
                            text=True, env=env)
    assert proc.stderr is not None
    deadline, seen = time.monotonic() + timeout, []
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line and proc.poll() is not None:
            break
        seen.append(line)
        if "listening on " in line:
            url = line.split("listening on ", 1)[1].strip()
            threading.Thread(target=proc.stderr.read, daemon=True).start()
            return proc, url
    proc.kill()
    raise SystemExit(f"server did not start: {argv[:4]}\n{''.join(seen)[-2000:]}")


def post(url: str, body: bytes, ca: Path, gzip_ok: bool = False) -> tuple[dict, int]:
    """The answer (decoded from gzip where the server sent it) and its size on the wire."""
    import gzip

    ctx = ssl.create_default_context(cafile=str(ca))
    headers = {"Content-Type": "application/json"}
    if gzip_ok:
        headers["Accept-Encoding"] = "gzip"
    req = urllib.request.Request(url, data=body, headers=headers)
    with urllib.request.urlopen(req, context=ctx, timeout=20) as r:
        raw = r.read()
        data = gzip.decompress(raw) if r.headers.get("Content-Encoding") == "gzip" else raw
        return json.loads(data), len(raw)


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    m = re.fullmatch(r"([0-9.]+)(us|ms|s)", text)
    if not m:
        raise ValueError(f"wrk latency {text!r}")
    return float(m.group(1)) * _UNITS[m.group(2)]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its live children (a server's workers) so far
    (``/proc/PID/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    total = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    for task in Path(f"/proc/{pid}/task").iterdir():
        total += sum(cpu_seconds(int(c)) for c in (task / "children").read_text().split())
    return total


def wrk(url: str, body_file: Path, script: Path, duration: int, connections: int,
        threads: int, server_pid: int, gzip_ok: bool = True, distinct: bool = False) -> dict:
    cpu0, tool0 = cpu_seconds(server_pid), resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s",
                          "--latency", "--timeout", "5s", "-s", str(script), url],
                         env={**os.environ, "BENCH_BODY": str(body_file),
                              "BENCH_GZIP": "1" if gzip_ok else "0",
                              "BENCH_DISTINCT": "1" if distinct else "0"},
                         capture_output=True, text=True, timeout=duration + 60)
    server_cpu = cpu_seconds(server_pid) - cpu0
    tool1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    tool_cpu = (tool1.ru_utime + tool1.ru_stime) - (tool0.ru_utime + tool0.ru_stime)
    text = out.stdout
    if out.returncode != 0:
        raise SystemExit(f"wrk failed: {out.stderr or text}")
    lat = dict(re.findall(r"^\s+(50|75|90|99)%\s+(\S+)$", text, re.M))
    rps = re.search(r"Requests/sec:\s+([0-9.]+)", text)
    total = re.search(r"(\d+) requests in", text)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    errors = re.search(r"Socket errors: (.*)$", text, re.M)
    if not (rps and total and "50" in lat and "99" in lat):
        raise SystemExit(f"cannot read wrk's output:\n{text}")
    return {"rps": float(rps.group(1)), "requests": int(total.group(1)),
            "p50_ms": _ms(lat["50"]), "p90_ms": _ms(lat["90"]), "p99_ms": _ms(lat["99"]),
            "server_cpu_us_per_request": round(server_cpu / int(total.group(1)) * 1e6, 1),
            "wrk_cpu_us_per_request": round(tool_cpu / int(total.group(1)) * 1e6, 1),
            "non_2xx": int(non2xx.group(1)) if non2xx else 0,
            "socket_errors": errors.group(1).strip() if errors else ""}


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def has_uvloop() -> bool:
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return False
    return True


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", type=int, default=10, help="seconds per measurement")
    ap.add_argument("--rounds", type=int, default=3, help="measurements of each server")
    ap.add_argument("--connections", type=int, default=20)
    ap.add_argument("--threads", type=int, default=1, help="wrk threads (this machine: 2 cores)")
    ap.add_argument("--passthrough", action="store_true",
                    help="also measure cudaswitch on a pod without its annotations (no patch)")
    ap.add_argument("--cuda", metavar="SPEC",
                    help="annotate the pod cudaswitch.io/cuda: SPEC instead of the runtime "
                         "facefusion-cuda12 (CUDA 12.4), e.g. 12 for a shorter affinity")
    ap.add_argument("--workers", type=int, default=1,
                    help="cudaswitch k8s webhook --workers N (kopf's server is one process)")
    ap.add_argument("--distinct", action="store_true",
                    help="make every review's pod a new one (a counter in its generateName), "
                    "so the webhook reuses no decision, as for pods of many templates")
    ap.add_argument("--identity", action="store_true",
                    help="send no Accept-Encoding (kube-apiserver sends gzip; so does the "
                         "bench by default, to every server)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is missing: apt-get install wrk")
    loops = ["asyncio", "uvloop"] if has_uvloop() else ["asyncio"]
    procs: dict[str, subprocess.Popen] = {}
    with tempfile.TemporaryDirectory(prefix="k8s-webhook-bench-") as tmp_s:
        tmp = Path(tmp_s)
        certs = make_certs(tmp / "certs")
        body = review_body(("cudaswitch.io/cuda", args.cuda) if args.cuda else
                           ("cudaswitch.io/runtime", "facefusion-cuda12"))
        body_file, script = tmp / "review.json", tmp / "post.lua"
        body_file.write_bytes(body)
        script.write_text(WRK_SCRIPT)
        env = {**os.environ, "KUBECONFIG": str(tmp / "no-kubeconfig")}
        kopf_script = tmp / "kopf_server.py"
        kopf_script.write_text(KOPF_SERVER)
        try:
            procs["cudaswitch"], url = start([
                sys.executable, "-m", "cudaswitch.cli.main", "k8s", "webhook", "--cert",
                str(certs["cert"]), "--key", str(certs["key"]), "--port", "0", "--runtimes",
                str(EXAMPLES), "--workers", str(args.workers)], env)
            targets = {"cudaswitch": url.replace("127.0.0.1", "localhost") + "/mutate/pods"}
            for loop in loops:
                name = "kopf" if loop == "asyncio" else f"kopf+{loop}"
                procs[name], url = start([sys.executable, str(kopf_script), str(certs["cert"]),
                                          str(certs["key"]), str(free_port()), loop], env)
                targets[name] = url.replace("127.0.0.1", "localhost") + "/bench"
            plain_answer, response_bytes = post(targets["cudaswitch"], body, certs["ca"])
            check = plain_answer["response"]
            if not (check["allowed"] and check.get("patchType") == "JSONPatch"):
                raise SystemExit(f"cudaswitch did not place the pod: {check}")
            gz_answer, gzip_bytes = post(targets["cudaswitch"], body, certs["ca"], True)
            if gz_answer["response"]["patch"] != check["patch"]:
                raise SystemExit("cudaswitch's gzip answer differs from its plain one")
            for name in targets:
                if name.startswith("kopf") and not post(targets[name], body, certs["ca"],
                                                        True)[0]["response"]["allowed"]:
                    raise SystemExit(f"{name}: the trivial handler did not allow")
            bodies = dict.fromkeys(targets, body_file)
            pids = {k: p.pid for k, p in procs.items()}
            if args.passthrough:
                plain = tmp / "plain.json"
                plain.write_bytes(body.replace(b'"cudaswitch.io/', b'"example.io/'))
                targets["cudaswitch-untouched"] = targets["cudaswitch"]
                bodies["cudaswitch-untouched"] = plain
                pids["cudaswitch-untouched"] = pids["cudaswitch"]
            load_before = os.getloadavg()[0]
            results: dict[str, list[dict]] = {k: [] for k in targets}
            for i in range(args.rounds):
                order = list(targets) if i % 2 == 0 else list(targets)[::-1]
                for name in order:
                    results[name].append(wrk(targets[name], bodies[name], script,
                                             args.duration, args.connections, args.threads,
                                             pids[name], not args.identity, args.distinct))
        finally:
            for p in procs.values():
                p.terminate()
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
    anchors = [k for k in results if k.startswith("kopf")]
    # the anchor of each round is kopf's faster run in that round
    best = [max((results[a][i] for a in anchors), key=lambda r: r["rps"])
            for i in range(args.rounds)]
    ratios = [o["rps"] / k["rps"] for o, k in zip(results["cudaswitch"], best, strict=True)]
    summary = {
        "command": " ".join(["uv run python bench/k8s_webhook_bench.py", *sys.argv[1:]]),
        "duration_s": args.duration, "rounds": args.rounds, "connections": args.connections,
        "wrk_threads": args.threads, "request_bytes": len(body),
        "cudaswitch_response_bytes": response_bytes, "cudaswitch_gzip_bytes": gzip_bytes,
        "accept_encoding": "identity" if args.identity else "gzip",
        "distinct_pods": args.distinct,
        "cudaswitch_workers": args.workers, "cpus": os.cpu_count(),
        "load_1m_before_and_after": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "rounds_detail": results,
        "median": {k: {m: round(statistics.median(r[m] for r in v), 2)
                       for m in ("rps", "p50_ms", "p99_ms", "server_cpu_us_per_request",
                                 "wrk_cpu_us_per_request")} for k, v in results.items()},
        "ratio_to_faster_kopf_per_round": [round(r, 2) for r in ratios],
        "ratio_median": round(statistics.median(ratios), 2),
    }
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    print(f"{'server':<22}{'round':>6}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}"
          f"{'server CPU us/req':>19}{'wrk CPU us/req':>16}{'non-2xx':>9}  socket errors")
    for name, runs in results.items():
        for i, r in enumerate(runs):
            print(f"{name:<22}{i + 1:>6}{r['rps']:>9.0f}{r['p50_ms']:>9.2f}{r['p99_ms']:>9.2f}"
                  f"{r['server_cpu_us_per_request']:>19.1f}{r['wrk_cpu_us_per_request']:>16.1f}"
                  f"{r['non_2xx']:>9}  {r['socket_errors'] or '-'}")
    print("\nmedian: " + "; ".join(
        f"{k} {v['rps']:.0f} req/s p50 {v['p50_ms']} ms p99 {v['p99_ms']} ms"
        for k, v in summary["median"].items()))
    print(f"ratio cudaswitch / faster kopf, per round: {summary['ratio_to_faster_kopf_per_round']}"
          f" (median {summary['ratio_median']}); request {len(body)} B, cudaswitch response "
          f"{response_bytes} B ({gzip_bytes} B as gzip; the load asked for "
          f"{summary['accept_encoding']}); cudaswitch workers {args.workers}; 1-minute load "
          f"before/after "
          f"{summary['load_1m_before_and_after']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
