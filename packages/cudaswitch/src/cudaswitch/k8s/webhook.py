"""The admission webhook server: HTTP/1.1 over TLS, two review paths and health checks.

Paths are data (``ROUTES``): the Helm chart's webhook configurations name the same paths, and
a test fails when they differ. Any other path is a 404 and a wrong method a 405, never an allow.
The certificate files are re-read when they change (cert-manager renews them in place).
Requests are framed by ``http1`` (why not a web framework: see there); ``respond`` is the
whole of what a request does.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import ssl
import sys
from collections.abc import Callable, Coroutine
from typing import Any

from .admission import MAX_BODY, Handler, admit_pod, answer, validate_runtime
from .http1 import Http1Protocol, error_body
from .runtime import Catalog

MUTATE_PODS_PATH = "/mutate/pods"
VALIDATE_RUNTIMES_PATH = "/validate/cudaruntimes"
ROUTES: dict[str, Handler] = {MUTATE_PODS_PATH: admit_pod, VALIDATE_RUNTIMES_PATH: validate_runtime}
HEALTH_PATHS = ("/healthz", "/readyz")
log = logging.getLogger("cudaswitch.webhook")
_GZIP_HEADERS = (("Content-Encoding", "gzip"), ("Vary", "Accept-Encoding"))
_SERVED = ", ".join([*(f"POST {p}" for p in ROUTES), *(f"GET {p}" for p in HEALTH_PATHS)])


def responder(catalog: Callable[[], Catalog]):
    """(method, path, body, client takes gzip) -> (status, JSON body, extra headers) for this
    server's paths. A placed pod's review is answered as gzip when the client takes it (the
    apiserver does); every other answer is too small to be worth it."""
    def respond(method: str, path: str, body: bytes, gzip: bool = False):
        handler = ROUTES.get(path)
        if handler is not None:
            if method != "POST":
                return 405, error_body(f"{path} takes POST"), (("Allow", "POST"),)
            status, data, gzipped = answer(body, handler, catalog(), gzip)
            if status != 200:
                log.warning("%s %s: %s", method, path, data[:300].decode(errors="replace"))
            return status, data, _GZIP_HEADERS if gzipped else ()
        if path in HEALTH_PATHS:
            if method not in ("GET", "HEAD"):
                return 405, error_body(f"{path} takes GET"), (("Allow", "GET"),)
            return 200, json.dumps({"ok": True, "runtimes": len(catalog().runtimes)}).encode(), ()
        return 404, error_body(f"no such path {path[:100]!r}; served: {_SERVED}"), ()
    return respond


def tls_context(cert: str, key: str) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cert, key)
    return ctx


async def _reload_certs(ctx: ssl.SSLContext, cert: str, key: str, every: float) -> None:
    def stamp() -> tuple[float, float]:
        return os.stat(cert).st_mtime, os.stat(key).st_mtime
    seen = stamp()
    while True:
        await asyncio.sleep(every)
        try:
            now = stamp()
            if now != seen:
                ctx.load_cert_chain(cert, key)
                seen = now
                log.info("reloaded certificate %s", cert)
        except (OSError, ssl.SSLError) as e:  # half-written pair: keep the old one, retry
            log.warning("certificate reload failed, keeping the current one: %s", e)


def run(main: Coroutine[Any, Any, None]) -> None:
    """Run the server on uvloop when it is installed (the ``k8s`` extra brings it): its TLS
    and transports are compiled, where asyncio's are Python on every request."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
        return
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main)


async def serve(catalog: Callable[[], Catalog], host: str, port: int, cert: str, key: str,
                ready: Callable[[str], None] | None = None,
                background: tuple = (), sock: socket.socket | None = None) -> None:
    """Serve until cancelled; on ``sock`` (already listening: a worker's) when given."""
    ctx = tls_context(cert, key)
    respond = responder(catalog)
    loop = asyncio.get_running_loop()
    where: dict[str, Any] = {"sock": sock} if sock is not None else \
        {"host": host, "port": port, "reuse_address": True}
    server = await loop.create_server(lambda: Http1Protocol(respond, MAX_BODY), ssl=ctx,
                                      backlog=1024, **where)
    bound = server.sockets[0].getsockname()[1] if server.sockets else port
    tasks = [asyncio.ensure_future(_reload_certs(ctx, cert, key, 60.0)),
             *(asyncio.ensure_future(b) for b in background)]
    (ready or (lambda url: print(url, file=sys.stderr, flush=True)))(
        f"listening on https://{host}:{bound}")
    try:
        await asyncio.Event().wait()
    finally:
        for t in tasks:
            t.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await t
        server.close()
        await server.wait_closed()
