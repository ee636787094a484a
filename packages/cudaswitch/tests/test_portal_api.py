"""The portal's HTTP API and forms, against a real portal process, on SQLite and PostgreSQL.

Every test runs twice: once on the default SQLite file, once on a PostgreSQL server the
fixture starts. Jobs run real facefuse on real photos under a slot found by discovery (real
NVIDIA runtime wheels from PyPI), through the same flow as ``cudaswitch exec``.
"""

from __future__ import annotations

import html
import io
import os
import shlex
import signal
import sys
import time
from pathlib import Path

import pytest
from PIL import Image
from portal_support import (
    PASSWORD,
    TREE_SCRIPT,
    PortalProcess,
    alive,
    login,
    pg_bin,
    postgres_server,
    probe,
    session_csrf,
    source_photo,
    target_photo,
    video_clip,
    wait_for,
    wait_gone,
)

pytestmark = pytest.mark.skipif(pg_bin("initdb") is None,
                                reason="PostgreSQL (initdb) is not installed; .ci/run installs it")


@pytest.fixture(scope="module")
def pg():
    with postgres_server() as server:
        yield server


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def portal(request, tmp_path_factory, wheel_roots):
    home = tmp_path_factory.mktemp(f"portal-{request.param}")
    database = None
    if request.param == "postgresql":
        database = request.getfixturevalue("pg").createdb(f"portal_{os.getpid()}")
    p = PortalProcess(home, database, wheel_roots,
                      ("--max-upload-mib", "2", "--workers", "2", "--cpu-jobs", "1"))
    p.add_users()
    script = home / "tree.py"
    script.write_text(TREE_SCRIPT)
    p.tree_command = shlex.join([sys.executable, str(script)])
    p.start()
    yield p
    p.stop()


def _photos(src: Path | None = None, tgt: Path | None = None) -> dict:
    src, tgt = src or source_photo(), tgt or target_photo()
    return {"source": ("grace.jpg", src.read_bytes(), "image/jpeg"),
            "target": ("astronaut.png", tgt.read_bytes(), "image/png")}


def _job_form(slot: str = "cuda12.4", **extra: str) -> dict:
    return {"kind": "facefuse", "slot": slot, "provider": "cpu", **extra}


def _register_tree(portal: PortalProcess, name: str) -> None:
    admin = portal.client("admin")
    r = admin.post("/admin/command", data={"name": name, "command_line": portal.tree_command,
                                           "csrf_token": session_csrf(admin)})
    assert r.status_code in (303, 409), r.text


def _bearer(portal: PortalProcess, user: str) -> dict:
    return {"Authorization": f"Bearer {portal.token(user)}"}


# --- accounts, cookies, CSRF -----------------------------------------------------------------

def test_login_sets_httponly_samesite_cookie_and_wrong_password_is_refused(portal):
    c = portal.client()
    r = login(c, "runner")
    assert r.status_code == 303
    cookie = r.headers["set-cookie"].lower()
    assert "cs_session=" in cookie and "httponly" in cookie and "samesite=strict" in cookie
    bad = portal.client()
    r = login(bad, "runner", "not the password")
    assert r.status_code == 401 and "Wrong user name or password" in r.text
    assert "cs_session" not in bad.cookies
    r = login(portal.client(), "nobody-here", PASSWORD)
    assert r.status_code == 401


def test_login_form_without_its_csrf_token_is_refused(portal):
    c = portal.client()
    c.get("/login")
    r = c.post("/login", data={"username": "runner", "password": PASSWORD})
    assert r.status_code == 403 and "CSRF" in r.text


def test_pages_and_api_need_a_login(portal):
    c = portal.client()
    for path in ("/jobs", "/runtimes", "/host", "/jobs/new", "/admin", "/account"):
        r = c.get(path)
        assert r.status_code == 303 and r.headers["location"] == "/login", path
    for path in ("/api/jobs", "/api/runtimes", "/api/host", "/api/jobs/1"):
        r = c.get(path)
        assert r.status_code == 401 and r.json()["error"] == "log in first", path


def test_forged_form_without_csrf_token_is_refused_and_nothing_is_queued(portal):
    c = portal.client("runner")
    before = len(c.get("/api/jobs").json()["jobs"])
    r = c.post("/jobs", data=_job_form(), files=_photos())
    assert r.status_code == 403 and "CSRF" in r.text
    r = c.post("/jobs", data=_job_form(csrf_token="forged"), files=_photos())
    assert r.status_code == 403
    r = c.post("/api/jobs", data=_job_form(), files=_photos(),
               headers={"X-CSRF-Token": "forged"})
    assert r.status_code == 403
    r = c.post("/logout", data={})
    assert r.status_code == 403
    assert len(c.get("/api/jobs").json()["jobs"]) == before


def test_token_for_scripts_works_without_cookie_and_stops_when_revoked(portal):
    c = portal.client("runner")
    r = c.post("/account/token", data={"name": "ci-script", "csrf_token": session_csrf(c)})
    assert r.status_code == 200
    token = r.text.split('id="new-token">', 1)[1].split("<", 1)[0]
    script = portal.client()
    assert script.get("/api/runtimes", headers={"Authorization": f"Bearer {token}"}) \
        .status_code == 200
    page = c.get("/account").text
    token_id = page.split('name="token_id" value="')[-1].split('"', 1)[0]
    assert c.post("/account/revoke", data={"token_id": token_id,
                                           "csrf_token": session_csrf(c)}).status_code == 200
    r = script.get("/api/runtimes", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401 and "revoked" in r.json()["error"]
    r = script.get("/api/runtimes", headers={"Authorization": "Bearer csp_made-up"})
    assert r.status_code == 401


# --- roles -----------------------------------------------------------------------------------

def test_viewer_cannot_submit_cancel_or_register(portal):
    viewer = portal.client("viewer")
    assert viewer.get("/jobs").status_code == 200
    assert viewer.get("/jobs/new").status_code == 403
    r = viewer.post("/jobs", data=_job_form(csrf_token=session_csrf(viewer)), files=_photos())
    assert r.status_code == 403 and "runner role" in r.text
    r = viewer.post("/api/jobs", data=_job_form(), files=_photos(),
                    headers=_bearer(portal, "viewer"))
    assert r.status_code == 403
    r = viewer.post("/admin/command", data={"name": "x", "command_line": "true",
                                            "csrf_token": session_csrf(viewer)})
    assert r.status_code == 403


def test_runner_cannot_register_commands_or_add_users(portal):
    runner = portal.client("runner")
    csrf = session_csrf(runner)
    assert runner.post("/admin/command", data={"name": "x", "command_line": "true",
                                               "csrf_token": csrf}).status_code == 403
    assert runner.post("/admin/user", data={"username": "eve", "password": "x" * 12,
                                            "role": "admin", "csrf_token": csrf}
                       ).status_code == 403


# --- runtimes and host -----------------------------------------------------------------------

def test_runtimes_lists_discovered_slots_with_verdicts_and_providers(portal):
    c = portal.client("viewer")
    data = c.get("/api/runtimes").json()
    names = {r["name"]: r for r in data["runtimes"]}
    assert {"cuda11.8", "cuda12.4", "cuda13.0"} <= set(names)
    rt = names["cuda12.4"]
    assert rt["cuda"] == "12.4.127" and "cudart" in rt["components"]
    assert rt["sizes"]["apparent"] > 100_000 and rt["sizes"]["files"] >= 1  # libcudart at least
    assert rt["verdict"] == "unknown" and "driver" in rt["reason"]
    cuda = next(p for p in rt["providers"] if p["value"] == "cuda")
    assert not cuda["available"] and cuda["why_not"]
    page = c.get("/runtimes").text
    assert "cuda11.8" in page and "12.4.127" in page and " MiB" in page
    host = c.get("/api/host").json()
    assert "driver_version" in host["host"] and isinstance(host["findings"], list)
    assert c.get("/host").status_code == 200


# --- jobs ------------------------------------------------------------------------------------

def test_facefuse_job_runs_and_result_is_an_image_of_the_target_size(portal):
    c = portal.client()
    r = c.post("/api/jobs", data=_job_form(), files=_photos(), headers=_bearer(portal, "runner"))
    assert r.status_code == 201, r.text
    job = wait_for(portal.client("runner"), r.json()["id"], ("succeeded", "failed"))
    assert job["state"] == "succeeded", job["log"]
    assert "slot cuda12.4" in job["log"] and "face(s) swapped" in job["log"]
    assert job["result_type"] == "image/png"
    res = portal.client("viewer").get(job["result"])
    assert res.status_code == 200 and res.headers["content-type"] == "image/png"
    assert "attachment" in res.headers["content-disposition"]
    with Image.open(io.BytesIO(res.content)) as img:
        assert img.format == "PNG" and img.size == Image.open(target_photo()).size
    folder = portal.data / "jobs" / str(job["id"])
    assert sorted(p.name for p in folder.iterdir()) == [
        "job.log", "result.png", "source.jpg", "target.png"]


@pytest.fixture(params=["api", "form"])
def via(request) -> str:
    """Every upload check runs through both endpoints that take files: the JSON API (script
    token) and the New job page's form (session cookie and CSRF token)."""
    return request.param


def _upload(portal: PortalProcess, via: str, files: dict) -> tuple[int, str, int | None]:
    """(status, error text, job id) of a facefuse submission through ``via``."""
    if via == "api":
        r = portal.client().post("/api/jobs", data=_job_form(), files=files,
                                 headers=_bearer(portal, "runner"))
        body = r.json() if r.headers.get("content-type", "").startswith("application/json") \
            else {"error": r.text}
        return r.status_code, body.get("error", ""), body.get("id")
    c = portal.client("runner")
    r = c.post("/jobs", data=_job_form(csrf_token=session_csrf(c)), files=files)
    job_id = None
    if r.status_code == 303:
        job_id = int(r.headers["location"].rsplit("/", 1)[1])
        return 201, "", job_id
    return r.status_code, html.unescape(r.text), job_id


@pytest.mark.parametrize(("field", "payload", "status", "words"), [
    ("source", b"this is plain text, not a photo\n", 400, "not a readable image"),
    ("target", b"%PDF-1.4\n" + b"0" * 300, 400, "not a readable image"),
    ("source", b"", 400, "empty"),
    ("target", b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 64, 400, "no readable video stream"),
], ids=["text-as-photo", "pdf", "empty", "truncated-mp4"])
def test_bad_upload_types_are_refused_with_what_is_accepted(portal, via, field, payload,
                                                            status, words):
    files = _photos()
    files[field] = ("photo.jpg", payload, "image/jpeg")
    code, error, _ = _upload(portal, via, files)
    assert code == status, error
    assert words in error
    if field == "source" and payload:
        assert "JPEG, PNG, WebP or BMP" in error


def test_truncated_photo_is_refused(portal, via):
    files = _photos()
    data = source_photo().read_bytes()
    files["source"] = ("grace.jpg", data[: len(data) // 2], "image/jpeg")
    code, error, _ = _upload(portal, via, files)
    assert code == 400 and "truncated" in error


def test_video_as_source_photo_is_refused(portal, via):
    files = _photos()
    files["source"] = ("clip.mp4", b"\x00\x00\x00\x18ftypisom" + b"\x00" * 64, "video/mp4")
    code, error, _ = _upload(portal, via, files)
    assert code == 400 and "video is not accepted" in error


def test_upload_over_the_limit_is_refused(portal, via):
    img = Image.effect_noise((1400, 1400), 80).convert("RGB")
    buf = io.BytesIO()
    img.save(buf, "PNG")
    assert len(buf.getvalue()) > 2 * 2**20
    files = _photos()
    files["target"] = ("big.png", buf.getvalue(), "image/png")
    code, error, _ = _upload(portal, via, files)
    assert code in (400, 413), error
    assert "MiB" in error


def test_body_over_the_limit_is_refused_before_parsing(portal, via):
    files = _photos()
    files["target"] = ("huge.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * (6 * 2**20), "image/png")
    code, error, _ = _upload(portal, via, files)
    assert code == 413 and "MiB" in error


def test_path_names_in_uploads_are_only_shown_never_used(portal, via):
    files = _photos()
    files["source"] = ("../../x", source_photo().read_bytes(), "image/jpeg")
    files["target"] = ("/etc/passwd", target_photo().read_bytes(), "image/png")
    code, error, job_id = _upload(portal, via, files)
    assert code == 201, error
    job = portal.client("viewer").get(f"/api/jobs/{job_id}").json()
    assert job["source_name"] == "x" and job["target_name"] == "passwd"
    folder = portal.data / "jobs" / str(job_id)
    assert {"source.jpg", "target.png"} <= {p.name for p in folder.iterdir()}
    assert not (portal.data / "x").exists() and not (portal.data.parent / "x").exists()
    wait_for(portal.client("runner"), job_id, ("succeeded", "failed"))


def test_unknown_slot_option_or_unavailable_provider_is_refused(portal):
    h = _bearer(portal, "runner")
    c = portal.client()
    r = c.post("/api/jobs", data=_job_form(slot="cuda99"), files=_photos(), headers=h)
    assert r.status_code == 400 and "cuda12.4" in r.json()["error"]
    r = c.post("/api/jobs", data={**_job_form(), "provider": "cuda"}, files=_photos(), headers=h)
    assert r.status_code == 400 and "no GPU" in r.json()["error"]
    r = c.post("/api/jobs", data=_job_form(face_swapper_model="magic"), files=_photos(),
               headers=h)
    assert r.status_code == 400 and "classical" in r.json()["error"]
    r = c.post("/api/jobs", data=_job_form(kind="shell"), files=_photos(), headers=h)
    assert r.status_code == 400


def test_cancel_ends_the_whole_process_tree(portal):
    _register_tree(portal, "tree")
    runner = portal.client("runner")
    h = _bearer(portal, "runner")
    r = runner.post("/api/jobs", data={"kind": "command", "command": "tree", "slot": "cuda11.8",
                                       "provider": "cpu"}, headers=h)
    assert r.status_code == 201, r.text
    job_id = r.json()["id"]
    pids_file = portal.data / "jobs" / str(job_id) / "pids.txt"
    deadline = time.time() + 60
    while not pids_file.exists() and time.time() < deadline:
        time.sleep(0.1)
    pids = [int(p) for p in pids_file.read_text().split()]
    assert all(alive(p) for p in pids)
    r = runner.post(f"/api/jobs/{job_id}/cancel", headers=h)
    assert r.status_code == 200
    job = wait_for(runner, job_id, ("cancelled", "failed", "succeeded"))
    assert job["state"] == "cancelled"
    assert wait_gone(pids), f"still running after cancel: {[p for p in pids if alive(p)]}"
    r = runner.post(f"/api/jobs/{job_id}/cancel", headers=h)
    assert r.status_code == 409


def test_cpu_limit_holds_the_second_job_in_the_queue(portal):
    _register_tree(portal, "tree")
    h = _bearer(portal, "runner")
    c = portal.client()
    first = c.post("/api/jobs", data={"kind": "command", "command": "tree", "slot": "cuda12.4",
                                      "provider": "cpu"}, headers=h).json()["id"]
    second = c.post("/api/jobs", data={"kind": "command", "command": "tree",
                                       "slot": "cuda12.4", "provider": "cpu"},
                    headers=h).json()["id"]
    wait_for(c.__class__(base_url=portal.base, headers=h), first, ("running",))
    time.sleep(2)  # two workers are idle-polling; the limit, not a lack of workers, holds it
    viewer = portal.client("viewer")
    assert viewer.get(f"/api/jobs/{second}").json()["state"] == "queued"
    for job_id in (first, second):
        c.post(f"/api/jobs/{job_id}/cancel", headers=h)
    for job_id in (first, second):
        assert wait_for(viewer, job_id, ("cancelled",))["state"] == "cancelled"


def test_other_runner_cannot_cancel_or_delete_but_admin_can(portal):
    _register_tree(portal, "tree")
    h = _bearer(portal, "runner")
    c = portal.client()
    job_id = c.post("/api/jobs", data={"kind": "command", "command": "tree", "slot": "cuda12.4",
                                       "provider": "cpu"}, headers=h).json()["id"]
    other = _bearer(portal, "other")
    r = c.post(f"/api/jobs/{job_id}/cancel", headers=other)
    assert r.status_code == 403 and "owner" in r.json()["error"]
    assert c.delete(f"/api/jobs/{job_id}", headers=other).status_code == 403
    assert c.post(f"/api/jobs/{job_id}/cancel", headers=_bearer(portal, "admin")) \
        .status_code == 200
    wait_for(portal.client("viewer"), job_id, ("cancelled",))


def test_delete_removes_the_row_and_the_files(portal):
    h = _bearer(portal, "runner")
    c = portal.client()
    job_id = c.post("/api/jobs", data=_job_form(), files=_photos(), headers=h).json()["id"]
    wait_for(portal.client("viewer"), job_id, ("succeeded", "failed"))
    folder = portal.data / "jobs" / str(job_id)
    assert folder.is_dir()
    assert c.delete(f"/api/jobs/{job_id}", headers=h).status_code == 200
    assert not folder.exists()
    assert c.get(f"/api/jobs/{job_id}", headers=h).status_code == 404
    assert c.get(f"/jobs/{job_id}/result", headers=h).status_code == 404


def test_failed_job_says_why_and_retry_queues_it_again(portal):
    h = _bearer(portal, "runner")
    c = portal.client()
    files = _photos()
    files["target"] = ("coffee.png", _no_face_png(), "image/png")
    job_id = c.post("/api/jobs", data=_job_form(), files=files, headers=h).json()["id"]
    job = wait_for(portal.client("viewer"), job_id, ("succeeded", "failed"))
    assert job["state"] == "failed" and "no face" in job["reason"]
    assert job["result"] is None
    r = c.post(f"/api/jobs/{job_id}/retry", headers=h)
    assert r.status_code == 200 and r.json()["state"] == "queued"
    job = wait_for(portal.client("viewer"), job_id, ("succeeded", "failed"))
    assert job["attempts"] == 1 and job["state"] == "failed"


def _no_face_png() -> bytes:
    from portal_support import package_file

    return package_file("skimage", "data", "coffee.png").read_bytes()


def test_restart_mid_job_requeues_it_visibly_and_ends_the_old_tree(portal):
    _register_tree(portal, "tree")
    h = _bearer(portal, "runner")
    c = portal.client()
    job_id = c.post("/api/jobs", data={"kind": "command", "command": "tree", "slot": "cuda12.4",
                                       "provider": "cpu"}, headers=h).json()["id"]
    pids_file = portal.data / "jobs" / str(job_id) / "pids.txt"
    deadline = time.time() + 60
    while not pids_file.exists() and time.time() < deadline:
        time.sleep(0.1)
    old = [int(p) for p in pids_file.read_text().split()]
    pids_file.unlink()
    portal.stop(signal.SIGKILL)  # no chance to clean up: the hard case
    assert any(alive(p) for p in old)
    portal.start()
    assert wait_gone(old), "the interrupted job's processes outlived the restart"
    viewer = portal.client("viewer")
    job = wait_for(viewer, job_id, ("running",))
    assert job["interruptions"] == 1 and "interrupted" in job["reason"]
    assert job["attempts"] == 2
    c.post(f"/api/jobs/{job_id}/cancel", headers=h)
    wait_for(viewer, job_id, ("cancelled",))
    events = portal.client("admin").get("/admin").text
    assert "job.interrupted" in events


def test_audit_log_records_actions(portal):
    admin = portal.client("admin")
    page = admin.get("/admin").text
    for action in ("login", "job.submit", "token.create"):
        assert action in page, action


# --- paging of the jobs list -----------------------------------------------------------------

QUICK_SCRIPT = "print('done')\n"


def _quick_jobs(portal: PortalProcess, count: int) -> list[int]:
    """``count`` jobs of a registered command that prints one line and exits."""
    script = portal.home / "quick.py"
    script.write_text(QUICK_SCRIPT)
    admin = portal.client("admin")
    r = admin.post("/admin/command", data={"name": "quick",
                                           "command_line": shlex.join([sys.executable,
                                                                       str(script)]),
                                           "csrf_token": session_csrf(admin)})
    assert r.status_code in (303, 409), r.text
    h, c = _bearer(portal, "runner"), portal.client()
    return [c.post("/api/jobs", data={"kind": "command", "command": "quick", "slot": "cuda12.4",
                                      "provider": "cpu"}, headers=h).json()["id"]
            for _ in range(count)]


def _walk(c, url: str, way: str) -> list[list[int]]:  # noqa: ANN001
    pages = []
    while url:
        data = c.get(url).json()
        pages.append([j["id"] for j in data["jobs"]])
        url = data[way]
    return pages


def test_jobs_list_is_paged_newest_first_with_newer_and_older_links(portal):
    ids = _quick_jobs(portal, 7)
    c = portal.client("viewer")
    first = c.get("/api/jobs", params={"limit": "3"}).json()
    assert [j["id"] for j in first["jobs"]] == ids[:-4:-1]
    assert first["limit"] == 3 and first["newer"] is None
    assert first["older"] == f"/api/jobs?before={ids[-3]}&limit=3"
    older = _walk(c, "/api/jobs?limit=3", "older")
    flat = [i for page in older for i in page]
    assert all(len(p) == 3 for p in older[:-1]) and 1 <= len(older[-1]) <= 3
    assert flat == sorted(set(flat), reverse=True) and set(ids) <= set(flat)
    assert len(flat) == len(c.get("/api/jobs", params={"limit": "200"}).json()["jobs"])
    newer = _walk(c, "/api/jobs?after=0&limit=3", "newer")
    assert newer[0] == flat[-3:]  # the oldest three, newest first within the page
    back = [i for page in newer for i in page]
    assert sorted(back, reverse=True) == flat and len(back) == len(set(back))
    for page in newer:
        assert page == sorted(page, reverse=True)
    # a page after a cursor stays put while new jobs arrive at the top
    second = [j["id"] for j in c.get(first["older"]).json()["jobs"]]
    _quick_jobs(portal, 1)
    assert [j["id"] for j in c.get(first["older"]).json()["jobs"]] == second == ids[-4:-7:-1]


def test_jobs_page_has_newer_and_older_links(portal):
    ids = _quick_jobs(portal, 5)
    c = portal.client("viewer")
    top = c.get("/jobs", params={"limit": "2"}).text
    assert f'href="/jobs?before={ids[-2]}&amp;limit=2"' in top and "Older jobs" in top
    assert "Newer jobs" not in top and 'data-live="/api/jobs?limit=2"' in top
    middle = c.get("/jobs", params={"before": str(ids[-2]), "limit": "2"}).text
    assert f'href="/jobs?after={ids[-3]}&amp;limit=2"' in middle
    assert f'href="/jobs?before={ids[-4]}&amp;limit=2"' in middle
    assert f'data-job="{ids[-3]}"' in middle and f'data-job="{ids[-1]}"' not in middle


def test_pages_past_either_end_are_empty_and_lead_back(portal):
    _quick_jobs(portal, 1)
    c = portal.client("viewer")
    past_old = c.get("/api/jobs", params={"before": "1"}).json()
    assert past_old["jobs"] == [] and past_old["older"] is None
    assert past_old["newer"] == "/api/jobs?after=0"
    assert c.get(past_old["newer"]).json()["jobs"]
    far = str(10**18)
    past_new = c.get("/api/jobs", params={"after": far}).json()
    assert past_new["jobs"] == [] and past_new["newer"] is None
    assert past_new["older"] == f"/api/jobs?before={10**18 + 1}"
    assert c.get(past_new["older"]).json()["jobs"]
    assert c.get("/api/jobs", params={"before": str(2**63 - 1), "limit": "200"}).status_code \
        == 200
    assert "No jobs on this page." in c.get("/jobs", params={"before": "1"}).text


@pytest.mark.parametrize(("params", "name"), [
    ({"limit": "-1"}, "limit"), ({"limit": "0"}, "limit"), ({"limit": "abc"}, "limit"),
    ({"limit": str(10**9)}, "limit"), ({"limit": "201"}, "limit"), ({"limit": ""}, "limit"),
    ({"limit": "2.5"}, "limit"), ({"limit": "1e3"}, "limit"), ({"limit": "\u0663"}, "limit"),
    ({"before": "-1"}, "before"), ({"before": "0"}, "before"), ({"before": "x" * 5000}, "before"),
    ({"before": str(2**63)}, "before"), ({"after": "9" * 400}, "after"),
    ({"after": "0x10"}, "after"), ({"before": "5", "after": "2"}, "before and after"),
], ids=lambda v: str(v)[:20] if isinstance(v, dict) else v)
def test_hostile_paging_values_are_a_400_naming_the_parameter(portal, params, name):
    c = portal.client("viewer")
    r = c.get("/api/jobs", params=params)
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error.startswith(name + ":"), error
    assert len(error) < 300
    if name != "before and after":
        assert "whole number from" in error
    page = c.get("/jobs", params=params)
    assert page.status_code == 400 and error in html.unescape(page.text)


# --- previews: images and videos -------------------------------------------------------------

def test_video_job_result_is_served_as_video_with_range_requests(portal, tmp_path):
    clip = video_clip(tmp_path)
    files = {"source": ("grace.jpg", source_photo().read_bytes(), "image/jpeg"),
             "target": ("clip.mp4", clip.read_bytes(), "video/mp4")}
    r = portal.client().post("/api/jobs", data=_job_form(), files=files,
                             headers=_bearer(portal, "runner"))
    assert r.status_code == 201, r.text
    assert (r.json()["target_kind"], r.json()["target_width"]) == ("video", 256)
    viewer = portal.client("viewer")
    job = wait_for(viewer, r.json()["id"], ("succeeded", "failed"))
    assert job["state"] == "succeeded", job["log"]
    assert job["result_type"] == "video/mp4"
    whole = viewer.get(job["result"], params={"inline": "1"})
    assert whole.status_code == 200 and whole.headers["content-type"] == "video/mp4"
    assert whole.headers["content-disposition"].startswith("inline")
    assert whole.headers["accept-ranges"] == "bytes"
    saved = tmp_path / "result.mp4"
    saved.write_bytes(whole.content)
    info = probe(saved)
    assert (info["codec_name"], info["width"], info["height"]) == ("h264", 256, 256)
    assert int(info["nb_read_frames"]) == 6
    size = len(whole.content)
    part = viewer.get(job["result"], headers={"Range": "bytes=0-99"})
    assert part.status_code == 206 and part.content == whole.content[:100]
    assert part.headers["content-range"] == f"bytes 0-99/{size}"
    tail = viewer.get(job["result"], headers={"Range": f"bytes={size - 10}-"})
    assert tail.status_code == 206 and tail.content == whole.content[-10:]
    beyond = viewer.get(job["result"], headers={"Range": f"bytes={size + 5}-"})
    assert beyond.status_code == 416 and beyond.headers["content-range"] == f"bytes */{size}"
    page = viewer.get(f"/jobs/{job['id']}").text
    assert '<video id="preview" controls' in page
    assert f'src="/jobs/{job["id"]}/result?inline=1"' in page


def test_image_job_page_previews_with_img_and_unfinished_job_has_no_result(portal):
    h = _bearer(portal, "runner")
    job_id = portal.client().post("/api/jobs", data=_job_form(), files=_photos(),
                                  headers=h).json()["id"]
    viewer = portal.client("viewer")
    job = wait_for(viewer, job_id, ("succeeded", "failed"))
    assert job["state"] == "succeeded", job["log"]
    page = viewer.get(f"/jobs/{job_id}").text
    assert f'<img id="preview" alt="Result of job {job_id}"' in page and "<video" not in page
    res = viewer.get(f"/jobs/{job_id}/result", params={"inline": "1"})
    assert res.headers["content-type"] == "image/png"
    assert res.headers["content-disposition"].startswith("inline")
    quick = _quick_jobs(portal, 1)[0]
    data = viewer.get(f"/api/jobs/{quick}").json()
    assert data["result"] is None and data["result_type"] is None
    assert viewer.get(f"/jobs/{quick}/result").status_code == 404
