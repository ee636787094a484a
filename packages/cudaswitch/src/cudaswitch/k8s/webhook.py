"""The admission webhook server: aiohttp over TLS, two review paths and health checks.

Paths are data (``ROUTES``): the Helm chart's webhook configurations name the same paths, and
a test fails when they differ. Any other path is a 404 and a wrong method a 405, never an allow.
The certificate files are re-read when they change (cert-manager renews them in place).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import ssl
import sys
from collections.abc import Callable

from aiohttp import web

from .admission import MAX_BODY, Handler, admit_pod, answer, validate_runtime
from .runtime import Catalog

MUTATE_PODS_PATH = "/mutate/pods"
VALIDATE_RUNTIMES_PATH = "/validate/cudaruntimes"
ROUTES: dict[str, Handler] = {MUTATE_PODS_PATH: admit_pod, VALIDATE_RUNTIMES_PATH: validate_runtime}
HEALTH_PATHS = ("/healthz", "/readyz")
CATALOG_KEY: web.AppKey[Callable[[], Catalog]] = web.AppKey("catalog", Callable)
log = logging.getLogger("cudaswitch.webhook")


async def read_body(request: web.Request) -> bytes:
    """The whole body, at most ``MAX_BODY + 1`` bytes (``answer`` refuses more with a 400).

    ``StreamReader.read(n)`` returns what has arrived so far, not ``n`` bytes: a review larger
    than one TCP read (a pod with a long affinity, ~16 KiB) would be cut short and refused as
    "not JSON". This reads to the end of the body, and stops once it is over the limit.
    """
    chunks, size = [], 0
    while size <= MAX_BODY:
        chunk = await request.content.read(MAX_BODY + 1 - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _review_view(handler: Handler):
    async def view(request: web.Request) -> web.Response:
        length = request.content_length
        if length is not None and length > MAX_BODY:  # refused before reading it
            status, data = 400, {"error": f"body is {length} bytes, over the {MAX_BODY} "
                                          "byte limit"}
        else:
            status, data = answer(await read_body(request), handler,
                                  request.app[CATALOG_KEY]())
        if status != 200:
            log.warning("%s %s: %s", request.method, request.path, data.get("error"))
        return web.Response(status=status, body=json.dumps(data, separators=(",", ":")),
                            content_type="application/json")
    return view


async def _health(request: web.Request) -> web.Response:
    catalog = request.app[CATALOG_KEY]()
    return web.json_response({"ok": True, "runtimes": len(catalog.runtimes)})


def make_app(catalog: Callable[[], Catalog]) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY + 1)
    app[CATALOG_KEY] = catalog
    for path, handler in ROUTES.items():
        app.router.add_post(path, _review_view(handler))
    for path in HEALTH_PATHS:
        app.router.add_get(path, _health)
    return app


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


async def serve(catalog: Callable[[], Catalog], host: str, port: int, cert: str, key: str,
                ready: Callable[[str], None] | None = None,
                background: tuple = ()) -> None:
    ctx = tls_context(cert, key)
    runner = web.AppRunner(make_app(catalog), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port, ssl_context=ctx, backlog=1024)
    await site.start()
    server = site._server
    sockets = getattr(server, "sockets", None) or []
    bound = sockets[0].getsockname()[1] if sockets else port
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
        await runner.cleanup()
