"""Reading from a cluster's API: the few GETs ``k8s nodes`` and the webhook need, stdlib only.

Credentials come from the pod's service account when running in a cluster, else from the
current context of ``$KUBECONFIG`` (or ``~/.kube/config``): a bearer token or a client
certificate, and the cluster's CA. Tokens are never logged or put in an error message.
"""

from __future__ import annotations

import base64
import json
import os
import ssl
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from .crd import GROUP, PLURAL, VERSION

SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
NODES_PATH = "/api/v1/nodes"
RUNTIMES_PATH = f"/apis/{GROUP}/{VERSION}/{PLURAL}"


class ApiError(RuntimeError):
    """The API could not be reached or said no; the message names the URL and status only."""


@dataclass(frozen=True)
class ClusterConfig:
    server: str
    ca_file: str | None = None
    token: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    insecure: bool = False

    def __repr__(self) -> str:  # the token stays out of logs and tracebacks
        return f"ClusterConfig(server={self.server!r})"


def in_cluster() -> ClusterConfig | None:
    host, port = os.environ.get("KUBERNETES_SERVICE_HOST"), os.environ.get(
        "KUBERNETES_SERVICE_PORT", "443")
    token_file = os.path.join(SA_DIR, "token")
    if not host or not os.path.exists(token_file):
        return None
    with open(token_file, encoding="ascii") as f:
        token = f.read().strip()
    host = f"[{host}]" if ":" in host else host
    return ClusterConfig(f"https://{host}:{port}", os.path.join(SA_DIR, "ca.crt"), token)


def _materialise(data_b64: str, suffix: str) -> str:
    fd, path = tempfile.mkstemp(prefix="cudaswitch-kube-", suffix=suffix)
    with os.fdopen(fd, "wb") as f:
        f.write(base64.b64decode(data_b64))
    return path


def from_kubeconfig(path: str | None = None) -> ClusterConfig:
    import yaml

    path = path or os.environ.get("KUBECONFIG", "").split(os.pathsep)[0] or os.path.expanduser(
        "~/.kube/config")
    try:
        with open(path, encoding="utf-8") as f:
            cfg = yaml.safe_load(f) or {}
    except (OSError, yaml.YAMLError) as e:
        raise ApiError(f"cannot read kubeconfig {path}: {e}") from e
    try:
        ctx_name = cfg["current-context"]
        ctx = next(c["context"] for c in cfg["contexts"] if c["name"] == ctx_name)
        cluster = next(c["cluster"] for c in cfg["clusters"] if c["name"] == ctx["cluster"])
        user = next((u["user"] for u in cfg.get("users") or [] if u["name"] == ctx.get("user")),
                    {})
    except (KeyError, StopIteration, TypeError) as e:
        raise ApiError(f"kubeconfig {path}: no usable current context") from e
    base = os.path.dirname(os.path.abspath(path))

    def file_of(key: str, data_key: str, suffix: str, src: dict) -> str | None:
        if src.get(data_key):
            return _materialise(src[data_key], suffix)
        return os.path.join(base, src[key]) if src.get(key) else None

    return ClusterConfig(
        cluster["server"].rstrip("/"),
        file_of("certificate-authority", "certificate-authority-data", ".crt", cluster),
        user.get("token"),
        file_of("client-certificate", "client-certificate-data", ".crt", user),
        file_of("client-key", "client-key-data", ".key", user),
        bool(cluster.get("insecure-skip-tls-verify")),
    )


def load_config() -> ClusterConfig:
    return in_cluster() or from_kubeconfig()


def get_json(cfg: ClusterConfig, path: str, timeout: float = 15.0) -> Any:
    ctx = ssl.create_default_context(cafile=cfg.ca_file) if cfg.server.startswith("https") \
        else None
    if ctx is not None and cfg.insecure:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if ctx is not None and cfg.cert_file and cfg.key_file:
        ctx.load_cert_chain(cfg.cert_file, cfg.key_file)
    req = urllib.request.Request(cfg.server + path, headers={"Accept": "application/json"})
    if cfg.token:
        req.add_header("Authorization", f"Bearer {cfg.token}")
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=ctx) as resp:
            return json.load(resp)
    except urllib.error.HTTPError as e:
        raise ApiError(f"GET {cfg.server}{path}: HTTP {e.code} {e.reason}") from None
    except (urllib.error.URLError, OSError, ValueError) as e:
        raise ApiError(f"GET {cfg.server}{path}: {getattr(e, 'reason', e)}") from None


def list_items(cfg: ClusterConfig, path: str) -> list[dict]:
    data = get_json(cfg, path)
    items = data.get("items") if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise ApiError(f"GET {cfg.server}{path}: not a list")
    return items
