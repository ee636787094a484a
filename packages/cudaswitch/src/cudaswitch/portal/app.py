"""The web application: server-rendered pages, a JSON API for scripts, one set of rules.

Every page and API call goes through :func:`_who` (a session cookie, or a script token in
``Authorization: Bearer``), every state-changing request through :func:`_check_csrf`, and
every action ends in the audit log. Handlers are thin: parse, call ``jobs``/``accounts``, render.
"""

from __future__ import annotations

import json
import os
import secrets
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from sqlalchemy import select
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import (
    FileResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
)
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import UsageError
from . import accounts, audit, jobs
from .accounts import Principal
from .config import PortalConfig
from .db import Database
from .fleet import fleet_table
from .models import ROLES, ApiToken, Job, User
from .options import OPTIONS, PROVIDERS, parse_options
from .paging import PageLinks, PageRequest, parse_page
from .runtimes import RuntimeCache, host_dict
from .uploads import UploadError, display_name, inspect_upload, media_type

HERE = os.path.dirname(__file__)
COOKIE = "cs_session"
LOGIN_COOKIE = "cs_login"
FORM_OVERHEAD = 1 << 20  # bytes of a multipart body that are not the two files


@dataclass
class Portal:
    """What the handlers share: settings, database, the slot snapshot, the workers' bell."""

    config: PortalConfig
    db: Database
    runtimes: RuntimeCache
    wake: threading.Event = field(default_factory=threading.Event)


class BodyLimit:
    """Refuses a request body larger than ``limit`` bytes while it streams in (a forged
    Content-Length, or none with chunked encoding, cannot get past it)."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared and declared.isdigit() and int(declared) > self.limit:
            await _too_big(self.limit)(scope, receive, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise HTTPException(413, _too_big_text(self.limit))
            return message

        await self.app(scope, counted, send)


def _too_big_text(limit: int) -> str:
    return f"the request is larger than {limit / 2**20:.0f} MiB; upload smaller files"


def _too_big(limit: int) -> Response:
    return PlainTextResponse(_too_big_text(limit), status_code=413)


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = message.setdefault("headers", [])
                headers += [
                    (b"content-security-policy",
                     b"default-src 'self'; img-src 'self' blob:; frame-ancestors 'none'; "
                     b"form-action 'self'; base-uri 'none'"),
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"same-origin"),
                    (b"x-frame-options", b"DENY"),
                ]
            await send(message)

        await self.app(scope, receive, send_with)


# --- who is asking ---------------------------------------------------------------------------

class AuthError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def _client(request: Request) -> str:
    return request.client.host if request.client else ""


def _lookup(portal: Portal, request: Request) -> Principal | None:
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        with portal.db.session() as s:
            who = accounts.token_principal(s, auth[7:].strip())
        if who is None:
            raise AuthError(401, "the token is unknown or revoked; make a new one on the "
                            "Account page")
        return who
    cookie = request.cookies.get(COOKIE)
    if not cookie:
        return None
    with portal.db.read() as s:
        return accounts.session_principal(s, cookie)


async def _who(request: Request, role: str = "viewer") -> Principal:
    portal: Portal = request.app.state.portal
    who = await run_in_threadpool(_lookup, portal, request)
    if who is None:
        raise AuthError(401, "log in first")
    if not who.can(role):
        raise AuthError(403, f"{who.name} is a {who.role}; this needs the {role} role")
    return who


def _check_csrf(request: Request, who: Principal, form: FormData | None) -> None:
    given = request.headers.get("x-csrf-token") or (form.get("csrf_token") if form else None)
    if not accounts.csrf_ok(who, given if isinstance(given, str) else None):
        raise AuthError(403, "the form's security token is missing or wrong (CSRF); reload "
                        "the page and submit again")


# --- rendering -------------------------------------------------------------------------------

templates = Jinja2Templates(directory=os.path.join(HERE, "templates"))
templates.env.filters["when"] = (
    lambda t: time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t)) + " UTC" if t else "")
templates.env.filters["mib"] = lambda n: "-" if n is None else f"{n / 2**20:.1f} MiB"


def _page(request: Request, name: str, who: Principal | None, status: int = 200,
          **context: object) -> Response:
    portal: Portal = request.app.state.portal
    return templates.TemplateResponse(
        request, name, {"who": who, "csrf": who.csrf if who else "",
                        "fleet": bool(portal.config.nodes_file), **context},
        status_code=status)


def _error(request: Request, status: int, message: str, who: Principal | None = None) -> Response:
    if _is_api(request):
        return JSONResponse({"error": message}, status_code=status)
    return _page(request, "error.html", who, status=status, status_code=status, message=message)


def _job_dict(job: Job, config: PortalConfig) -> dict:
    opts = json.loads(job.options_json or "{}")
    result = jobs.result_path(config, job)
    return {"id": job.id, "kind": job.kind, "command": job.command_name, "slot": job.slot,
            "cuda": job.slot_cuda, "provider": job.provider, "device": job.device,
            "state": job.state, "owner": job.owner, "created_at": job.created_at,
            "started_at": job.started_at, "finished_at": job.finished_at,
            "progress": job.progress, "exit_code": job.exit_code, "reason": job.reason,
            "attempts": job.attempts, "interruptions": job.interruptions,
            "cancel_requested": job.cancel_requested,
            "source_name": opts.get("source_name"), "target_name": opts.get("target_name"),
            "target_kind": job.target_kind, "target_width": job.target_width,
            "target_height": job.target_height,
            "options": {k: v for k, v in opts.items()
                        if k not in ("source_name", "target_name")},
            "result": f"/jobs/{job.id}/result" if result else None,
            "result_type": media_type(result) if result else None}


def guarded(role: str = "viewer"):
    """Wraps a handler: who is asking, the role it needs, and errors as pages or JSON."""

    def wrap(fn: Callable[..., Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
        async def handler(request: Request) -> Response:
            who = None
            try:
                who = await _who(request, role)
                return await fn(request, who)
            except AuthError as e:
                if e.status == 401 and not _is_api(request):
                    return RedirectResponse("/login", status_code=303)
                return _error(request, e.status, str(e), who)
            except jobs.NotFound as e:
                return _error(request, 404, str(e), who)
            except jobs.Forbidden as e:
                return _error(request, 403, str(e), who)
            except jobs.Conflict as e:
                return _error(request, 409, str(e), who)
            except UploadError as e:
                return _error(request, 400, str(e), who)
            except UsageError as e:
                return _error(request, 400, str(e), who)

        handler.__name__ = fn.__name__
        return handler

    return wrap


# --- log in / out ----------------------------------------------------------------------------

async def login_page(request: Request) -> Response:
    token = secrets.token_urlsafe(32)
    resp = _page(request, "login.html", None, login_csrf=token, error="")
    _set_cookie(request, resp, LOGIN_COOKIE, token, max_age=3600)
    return resp


def _set_cookie(request: Request, resp: Response, name: str, value: str,
                max_age: int | None = None) -> None:
    portal: Portal = request.app.state.portal
    resp.set_cookie(name, value, max_age=max_age, httponly=True, samesite="strict",
                    secure=portal.config.secure_cookies, path="/")


async def login(request: Request) -> Response:
    portal: Portal = request.app.state.portal
    form = await request.form()
    expected = request.cookies.get(LOGIN_COOKIE, "")
    given = form.get("csrf_token")
    if not expected or not isinstance(given, str) or not secrets.compare_digest(expected, given):
        return _error(request, 403, "the log-in form's security token is missing or wrong "
                      "(CSRF); reload the page and log in again")
    name, password = str(form.get("username") or ""), str(form.get("password") or "")

    def check() -> tuple[str, str] | None:
        with portal.db.session() as s:
            user = accounts.authenticate(s, name, password)
            if user is None:
                audit.record(s, name[:64] or "-", "login.failed", "", "", _client(request))
                return None
            token, csrf = accounts.open_session(s, user, portal.config.session_hours)
            audit.record(s, user.name, "login", "", "", _client(request))
            return token, csrf

    opened = await run_in_threadpool(check)
    if opened is None:
        token = secrets.token_urlsafe(32)
        resp = _page(request, "login.html", None, status=401, login_csrf=token,
                     error="Wrong user name or password.")
        _set_cookie(request, resp, LOGIN_COOKIE, token, max_age=3600)
        return resp
    resp = RedirectResponse("/jobs", status_code=303)
    _set_cookie(request, resp, COOKIE, opened[0],
                max_age=int(portal.config.session_hours * 3600))
    resp.delete_cookie(LOGIN_COOKIE, path="/")
    return resp


@guarded()
async def logout(request: Request, who: Principal) -> Response:
    form = await request.form()
    _check_csrf(request, who, form)
    portal: Portal = request.app.state.portal

    def close() -> None:
        with portal.db.session() as s:
            accounts.close_session(s, request.cookies.get(COOKIE, ""))
            audit.record(s, who.name, "logout", "", "", _client(request))

    await run_in_threadpool(close)
    resp = RedirectResponse("/login", status_code=303)
    resp.delete_cookie(COOKIE, path="/")
    return resp


# --- pages -----------------------------------------------------------------------------------

async def home(request: Request) -> Response:
    return RedirectResponse("/jobs", status_code=303)


@guarded()
async def runtimes_page(request: Request, who: Principal) -> Response:
    snap = await run_in_threadpool(request.app.state.portal.runtimes.get)
    return _page(request, "runtimes.html", who, snap=snap, host=host_dict(snap.host))


@guarded()
async def host_page(request: Request, who: Principal) -> Response:
    snap = await run_in_threadpool(request.app.state.portal.runtimes.get)
    return _page(request, "host.html", who, host=host_dict(snap.host), findings=snap.findings)


@guarded()
async def fleet_page(request: Request, who: Principal) -> Response:
    portal: Portal = request.app.state.portal
    if not portal.config.nodes_file:
        return _error(request, 404, "no cluster is configured (start the portal with --nodes "
                      "FILE)", who)
    snap = await run_in_threadpool(portal.runtimes.get)
    pairs = [(r.name, ".".join((r.cuda or "").split(".")[:2])) for r in snap.runtimes if r.cuda]
    table = await run_in_threadpool(fleet_table, portal.config.nodes_file, pairs)
    return _page(request, "fleet.html", who, table=table, names=[n for n, _ in pairs])


async def _job_page(request: Request) -> tuple[PageRequest, list[dict], PageLinks]:
    portal: Portal = request.app.state.portal
    wanted = parse_page(request.query_params)
    rows, near = await run_in_threadpool(jobs.page, portal.db, wanted)
    return wanted, [_job_dict(j, portal.config) for j in rows], near


@guarded()
async def jobs_page(request: Request, who: Principal) -> Response:
    wanted, rows, near = await _job_page(request)
    return _page(request, "jobs.html", who, jobs=rows, wanted=wanted, near=near)


@guarded("runner")
async def new_job_page(request: Request, who: Principal) -> Response:
    portal: Portal = request.app.state.portal
    snap = await run_in_threadpool(portal.runtimes.get)
    cmds = await run_in_threadpool(jobs.commands, portal.db)
    return _page(request, "new_job.html", who, snap=snap, options=OPTIONS, providers=PROVIDERS,
                 commands=cmds, gpus=snap.host.gpus,
                 max_mib=portal.config.max_upload // 2**20)


@guarded()
async def job_page(request: Request, who: Principal) -> Response:
    portal: Portal = request.app.state.portal
    job = await run_in_threadpool(jobs.get, portal.db, int(request.path_params["job_id"]))
    log = await run_in_threadpool(jobs.log_tail, portal.config, job.id)
    return _page(request, "job.html", who, job=_job_dict(job, portal.config), log=log)


@guarded()
async def job_result(request: Request, who: Principal) -> Response:
    portal: Portal = request.app.state.portal
    job = await run_in_threadpool(jobs.get, portal.db, int(request.path_params["job_id"]))
    path = jobs.result_path(portal.config, job)
    if path is None:
        raise jobs.NotFound(f"job {job.id} has no result ({job.state})")
    inline = request.query_params.get("inline") == "1"
    name = f"job{job.id}-{job.output_file}"
    return FileResponse(path, filename=name, media_type=media_type(path),
                        content_disposition_type="inline" if inline else "attachment")


@guarded()
async def job_log(request: Request, who: Principal) -> Response:
    portal: Portal = request.app.state.portal
    job = await run_in_threadpool(jobs.get, portal.db, int(request.path_params["job_id"]))
    return PlainTextResponse(await run_in_threadpool(jobs.log_tail, portal.config, job.id))


# --- submitting ------------------------------------------------------------------------------

async def _read_upload(value: object, field_name: str, allow_video: bool,
                       config: PortalConfig) -> jobs.Upload:
    if not isinstance(value, UploadFile):
        raise UploadError(f"{field_name}: no file was uploaded; choose a file")
    data = await value.read(config.max_upload + 1)
    spooled = getattr(value.file, "name", None)
    media = await run_in_threadpool(
        inspect_upload, data, field_name, allow_video, config.max_upload,
        spooled if isinstance(spooled, str) and os.path.isfile(spooled) else None)
    if media.kind == "video" and not isinstance(spooled, str):
        import tempfile

        with tempfile.NamedTemporaryFile(suffix="." + media.ext) as tmp:
            tmp.write(data)
            tmp.flush()
            media = await run_in_threadpool(inspect_upload, data, field_name, allow_video,
                                            config.max_upload, tmp.name)
    return jobs.Upload(data, media, display_name(value.filename))


async def _submit(request: Request, who: Principal, form: FormData) -> Job:
    portal: Portal = request.app.state.portal
    if not who.can("runner"):
        raise jobs.Forbidden(f"{who.name} is a {who.role}; submitting jobs needs the runner "
                             "role")
    snap = await run_in_threadpool(portal.runtimes.get)
    slot = str(form.get("slot") or "")
    rt = snap.runtime(slot)
    if rt is None:
        have = ", ".join(r.name for r in snap.runtimes) or "(none)"
        raise UsageError(f"slot {slot!r}: no such slot here; slots: {have}")
    if not rt.runnable:
        raise UsageError(f"slot {slot}: {rt.verdict} on this host: {rt.reason}")
    provider = str(form.get("provider") or "cpu")
    choice = next((p for p in rt.providers if p.value == provider), None)
    if choice is None or not choice.available:
        offered = ", ".join(p.value for p in rt.providers if p.available)
        why = f" ({choice.why_not})" if choice else ""
        raise UsageError(f"provider {provider!r} cannot run in slot {slot}{why}; "
                         f"choose one of {offered}")
    device_text = str(form.get("device") or "0")
    if not device_text.isdigit() or (provider != "cpu" and
                                     int(device_text) not in {g.index for g in snap.host.gpus}):
        raise UsageError(f"device {device_text!r}: not a GPU of this host; GPUs: "
                         + (", ".join(str(g.index) for g in snap.host.gpus) or "none"))
    kind = str(form.get("kind") or "facefuse")
    common = {"slot": rt.name, "slot_source": rt.source, "slot_cuda": rt.cuda,
              "provider": provider, "device_id": int(device_text), "client": _client(request)}
    if kind == "command":
        name = str(form.get("command") or "")
        job = await run_in_threadpool(lambda: jobs.submit(
            portal.db, portal.config, who, kind="command", options={}, command=name, **common))
    elif kind == "facefuse":
        options = parse_options({k: str(v) for k, v in form.items() if isinstance(v, str)})
        source = await _read_upload(form.get("source"), "source photo", False, portal.config)
        target = await _read_upload(form.get("target"), "target photo or video", True,
                                    portal.config)
        job = await run_in_threadpool(lambda: jobs.submit(
            portal.db, portal.config, who, kind="facefuse", options=options, source=source,
            target=target, **common))
    else:
        raise UsageError(f"kind {kind!r}: choose facefuse or command")
    portal.wake.set()
    return job


def _form(request: Request):  # noqa: ANN201 (an awaitable and a context manager)
    portal: Portal = request.app.state.portal
    return request.form(max_files=4, max_fields=64,
                              max_part_size=portal.config.max_upload + 1)


@guarded("runner")
async def submit_form(request: Request, who: Principal) -> Response:
    async with _form(request) as form:
        _check_csrf(request, who, form)
        job = await _submit(request, who, form)
    return RedirectResponse(f"/jobs/{job.id}", status_code=303)


@guarded("runner")
async def job_action(request: Request, who: Principal) -> Response:
    portal: Portal = request.app.state.portal
    form = await request.form()
    _check_csrf(request, who, form)
    job_id, action = int(request.path_params["job_id"]), request.path_params["action"]
    client = _client(request)
    if action == "cancel":
        await run_in_threadpool(jobs.cancel, portal.db, who, job_id, client)
    elif action == "retry":
        await run_in_threadpool(jobs.retry, portal.db, portal.config, who, job_id, client)
        portal.wake.set()
    elif action == "delete":
        await run_in_threadpool(jobs.delete_job, portal.db, portal.config, who, job_id, client)
        return RedirectResponse("/jobs", status_code=303)
    else:
        raise jobs.NotFound(f"no action {action!r}; use cancel, retry or delete")
    return RedirectResponse(f"/jobs/{job_id}", status_code=303)


# --- account, tokens, admin ------------------------------------------------------------------

@guarded()
async def account_page(request: Request, who: Principal) -> Response:
    portal: Portal = request.app.state.portal

    def load() -> list[ApiToken]:
        with portal.db.read() as s:
            return list(s.scalars(select(ApiToken).where(ApiToken.user_id == who.user_id)
                                  .order_by(ApiToken.id)))

    return _page(request, "account.html", who, tokens=await run_in_threadpool(load),
                 new_token=None)


@guarded()
async def account_action(request: Request, who: Principal) -> Response:
    portal: Portal = request.app.state.portal
    form = await request.form()
    _check_csrf(request, who, form)
    action = request.path_params["action"]

    def act() -> str | None:
        with portal.db.session() as s:
            if action == "token":
                name = str(form.get("name") or "script")
                token = accounts.new_token(s, who.user_id, name)
                audit.record(s, who.name, "token.create", name, "", _client(request))
                return token
            if action == "revoke":
                tid = str(form.get("token_id") or "")
                if not tid.isdigit() or not accounts.revoke_token(s, who.user_id, int(tid)):
                    raise jobs.NotFound(f"no token {tid!r} of yours")
                audit.record(s, who.name, "token.revoke", tid, "", _client(request))
                return None
            raise jobs.NotFound(f"no action {action!r}")

    token = await run_in_threadpool(act)

    def load() -> list[ApiToken]:
        with portal.db.read() as s:
            return list(s.scalars(select(ApiToken).where(ApiToken.user_id == who.user_id)
                                  .order_by(ApiToken.id)))

    return _page(request, "account.html", who, tokens=await run_in_threadpool(load),
                 new_token=token)


@guarded("admin")
async def admin_page(request: Request, who: Principal) -> Response:
    portal: Portal = request.app.state.portal

    def load() -> tuple[list[User], list, list]:
        with portal.db.read() as s:
            users = list(s.scalars(select(User).order_by(User.name)))
            events = audit.recent(s, 100)
        return users, jobs.commands(portal.db), events

    users, cmds, events = await run_in_threadpool(load)
    return _page(request, "admin.html", who, users=users, commands=cmds, events=events,
                 roles=ROLES)


@guarded("admin")
async def admin_action(request: Request, who: Principal) -> Response:
    portal: Portal = request.app.state.portal
    form = await request.form()
    _check_csrf(request, who, form)
    action, client = request.path_params["action"], _client(request)

    def act() -> None:
        if action == "user":
            with portal.db.session() as s:
                user = accounts.create_user(s, str(form.get("username") or ""),
                                            str(form.get("password") or ""),
                                            str(form.get("role") or ""))
                audit.record(s, who.name, "user.create", user.name, user.role, client)
        elif action == "command":
            jobs.register_command(portal.db, who, str(form.get("name") or ""),
                                  str(form.get("command_line") or ""),
                                  str(form.get("description") or ""), client)
        elif action == "command-remove":
            jobs.remove_command(portal.db, who, str(form.get("name") or ""), client)
        else:
            raise jobs.NotFound(f"no action {action!r}")

    await run_in_threadpool(act)
    return RedirectResponse("/admin", status_code=303)


# --- JSON API --------------------------------------------------------------------------------

@guarded()
async def api_jobs(request: Request, who: Principal) -> Response:
    portal: Portal = request.app.state.portal
    if request.method == "POST":
        async with _form(request) as form:
            _check_csrf(request, who, form)
            job = await _submit(request, who, form)
        return JSONResponse(_job_dict(job, portal.config), status_code=201)
    wanted, rows, near = await _job_page(request)
    return JSONResponse({
        "jobs": rows, "limit": wanted.limit,
        "newer": f"/api/jobs?{near.newer.query()}" if near.newer else None,
        "older": f"/api/jobs?{near.older.query()}" if near.older else None})


@guarded()
async def api_job(request: Request, who: Principal) -> Response:
    portal: Portal = request.app.state.portal
    job_id = int(request.path_params["job_id"])
    if request.method == "DELETE":
        _check_csrf(request, who, None)
        await run_in_threadpool(jobs.delete_job, portal.db, portal.config, who, job_id,
                                _client(request))
        return JSONResponse({"deleted": job_id})
    job = await run_in_threadpool(jobs.get, portal.db, job_id)
    data = _job_dict(job, portal.config)
    if request.query_params.get("log") == "1":
        data["log"] = await run_in_threadpool(jobs.log_tail, portal.config, job_id, 16384)
    return JSONResponse(data)


@guarded("runner")
async def api_job_action(request: Request, who: Principal) -> Response:
    portal: Portal = request.app.state.portal
    _check_csrf(request, who, None)
    job_id, action = int(request.path_params["job_id"]), request.path_params["action"]
    if action == "cancel":
        job = await run_in_threadpool(jobs.cancel, portal.db, who, job_id, _client(request))
    elif action == "retry":
        job = await run_in_threadpool(jobs.retry, portal.db, portal.config, who, job_id,
                                      _client(request))
        portal.wake.set()
    else:
        raise jobs.NotFound(f"no action {action!r}; use cancel or retry")
    return JSONResponse(_job_dict(job, portal.config))


@guarded()
async def api_runtimes(request: Request, who: Principal) -> Response:
    snap = await run_in_threadpool(request.app.state.portal.runtimes.get)
    return JSONResponse({"host": host_dict(snap.host),
                         "runtimes": [r.as_dict() for r in snap.runtimes]})


@guarded()
async def api_host(request: Request, who: Principal) -> Response:
    snap = await run_in_threadpool(request.app.state.portal.runtimes.get)
    return JSONResponse({"host": host_dict(snap.host), "findings": list(snap.findings)})


async def healthz(request: Request) -> Response:
    return PlainTextResponse("ok")


def make_app(portal: Portal) -> ASGIApp:
    routes = [
        Route("/", home),
        Route("/login", login_page, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/runtimes", runtimes_page),
        Route("/host", host_page),
        Route("/fleet", fleet_page),
        Route("/jobs", jobs_page, methods=["GET"]),
        Route("/jobs", submit_form, methods=["POST"]),
        Route("/jobs/new", new_job_page),
        Route("/jobs/{job_id:int}", job_page),
        Route("/jobs/{job_id:int}/result", job_result),
        Route("/jobs/{job_id:int}/log", job_log),
        Route("/jobs/{job_id:int}/{action:str}", job_action, methods=["POST"]),
        Route("/account", account_page),
        Route("/account/{action:str}", account_action, methods=["POST"]),
        Route("/admin", admin_page),
        Route("/admin/{action:str}", admin_action, methods=["POST"]),
        Route("/api/jobs", api_jobs, methods=["GET", "POST"]),
        Route("/api/jobs/{job_id:int}", api_job, methods=["GET", "DELETE"]),
        Route("/api/jobs/{job_id:int}/{action:str}", api_job_action, methods=["POST"]),
        Route("/api/jobs/{job_id:int}/result", job_result),
        Route("/api/runtimes", api_runtimes),
        Route("/api/host", api_host),
        Route("/healthz", healthz),
        Mount("/static", StaticFiles(directory=os.path.join(HERE, "static")), name="static"),
    ]

    async def on_http_error(request: Request, exc: Exception) -> Response:
        status = getattr(exc, "status_code", 500)
        return _error(request, status, str(getattr(exc, "detail", "")) or "error")

    app = Starlette(routes=routes, exception_handlers={HTTPException: on_http_error})
    app.state.portal = portal
    limit = 2 * portal.config.max_upload + FORM_OVERHEAD
    return SecurityHeaders(BodyLimit(app, limit))
