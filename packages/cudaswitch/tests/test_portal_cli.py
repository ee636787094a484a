"""``cudaswitch portal`` as an operator starts it: the default store, a web-only portal with a
separate ``portal worker`` on PostgreSQL, the fleet page, and the refusals of bad arguments.

Real processes, a real PostgreSQL server, real slots; the node list of the fleet page is a
stand-in file (no kube-apiserver here), written as ``kubectl get nodes -o json`` prints it.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time

import pytest
from k8s_helpers import gfd_labels
from portal_support import (
    TREE_SCRIPT,
    PortalProcess,
    alive,
    pg_bin,
    postgres_server,
    session_csrf,
    wait_for,
    wait_gone,
)

from cs_helpers import clean_env


def _portal_cli(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cudaswitch.cli.main", "portal", *args],
                          env=env, capture_output=True, text=True, timeout=120)


def _pids(portal: PortalProcess, job_id: int, old: list[int] | None = None) -> list[int]:
    pids_file = portal.data / "jobs" / str(job_id) / "pids.txt"
    deadline = time.time() + 60
    while time.time() < deadline:
        if pids_file.exists():
            pids = [int(p) for p in pids_file.read_text().split()]
            if pids != old:
                return pids
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} never wrote {pids_file}")


def test_default_store_is_sqlite_under_cudaswitch_home(tmp_path, wheel_roots):
    portal = PortalProcess(tmp_path, None, wheel_roots, default_store=True)
    portal.add_users()
    portal.start()
    try:
        assert (tmp_path / "portal" / "portal.db").is_file()
        runner = portal.client("runner")
        assert runner.get("/api/runtimes").status_code == 200
        listed = _portal_cli(portal.env, "user", "list", "--json")
        assert listed.returncode == 0, listed.stderr
        assert {u["name"] for u in json.loads(listed.stdout)["users"]} >= {"admin", "viewer"}
    finally:
        portal.stop()


@pytest.mark.parametrize("name", ["a?b", "50%", "x#y", "u@h:p"],
                         ids=["query-mark", "percent", "hash", "at-colon"])
def test_a_data_folder_whose_name_means_something_in_a_url_holds_the_database(tmp_path, name):
    """The SQLite store's URL is made from the data folder: a '?' there once cut the path short
    (SQLite was asked to open the folder above, a traceback), '%' and '#' would be read as
    escapes or a fragment. The store lies in that very folder, and user commands find it."""
    env = clean_env(CUDASWITCH_HOME=str(tmp_path / "home"))
    data = tmp_path / name
    listed = _portal_cli(env, "user", "list", "--json", "--data", str(data))
    assert listed.returncode == 0, listed.stderr[-2000:]
    assert json.loads(listed.stdout) == {"users": []}
    assert (data / "portal.db").is_file()
    assert [p.name for p in tmp_path.iterdir()] == [name]


@pytest.mark.parametrize(("args", "words"), [
    (("--workers", "-1"), "--workers: must be 0 or more"),
    (("worker", "--workers", "0"), "--workers: must be 1 or more"),
    (("--per-gpu", "0"), "--per-gpu: must be 1 or more"),
    (("--database", "mysql://x@y/z"), "'mysql' is not supported"),
    (("--database", "not a url"), "not a database URL"),
    (("--nodes", "/nonexistent/nodes.json"), "no such file"),
    (("--max-upload-mib", "0"), "--max-upload-mib: must be 1 or more"),
], ids=["negative-workers", "worker-without-workers", "per-gpu-0", "mysql", "garbage-url",
        "missing-nodes", "upload-0"])
def test_bad_arguments_are_exit_2_with_one_line(tmp_path, args, words):
    env = clean_env(CUDASWITCH_HOME=str(tmp_path))
    r = _portal_cli(env, *args)
    assert r.returncode == 2, (r.returncode, r.stderr)
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and words in lines[0], r.stderr
    assert not (tmp_path / "portal").exists(), "a refused start left files behind"


# --- a web-only portal and a separate worker on PostgreSQL, with a fleet page ---------------

@pytest.fixture(scope="module")
def pg():
    if pg_bin("initdb") is None:
        pytest.skip("PostgreSQL (initdb) is not installed; .ci/run installs it")
    with postgres_server() as server:
        yield server


@pytest.fixture(scope="module")
def nodes_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("fleet") / "nodes.json"
    path.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": [
        {"metadata": {"name": "h100-a", "labels": gfd_labels("580.95.05", "13.0", "9.0")}},
        {"metadata": {"name": "t4-old", "labels": gfd_labels("470.256.02", "11.4", "7.5")}},
    ]}))
    return path


@pytest.fixture(scope="module")
def web_only(pg, tmp_path_factory, wheel_roots, nodes_file):
    home = tmp_path_factory.mktemp("portal-web-only")
    database = pg.createdb(f"portal_web_{os.getpid()}")
    p = PortalProcess(home, database, wheel_roots,
                      ("--workers", "0", "--nodes", str(nodes_file)))
    p.add_users()
    script = home / "tree.py"
    script.write_text(TREE_SCRIPT)
    p.start()
    admin = p.client("admin")
    r = admin.post("/admin/command", data={
        "name": "tree", "command_line": shlex.join([sys.executable, str(script)]),
        "csrf_token": session_csrf(admin)})
    assert r.status_code == 303, r.text
    yield p
    p.stop()


def _start_worker(portal: PortalProcess) -> subprocess.Popen:
    log = open(portal.home / "worker.log", "ab")  # noqa: SIM115
    return subprocess.Popen([sys.executable, "-m", "cudaswitch.cli.main", "portal", "worker",
                             "--workers", "1", *portal.store_args()],
                            env=portal.env, stdout=log, stderr=log)


def test_web_only_portal_queues_and_a_separate_worker_runs_and_requeues(web_only):
    h = {"Authorization": f"Bearer {web_only.token('runner')}"}
    c = web_only.client()
    c.headers.update(h)
    r = c.post("/api/jobs", data={"kind": "command", "command": "tree", "slot": "cuda12.4",
                                  "provider": "cpu"})
    assert r.status_code == 201, r.text
    job_id = r.json()["id"]
    time.sleep(2)  # the web process polls nothing: with --workers 0 the job must wait
    assert c.get(f"/api/jobs/{job_id}").json()["state"] == "queued"
    worker = _start_worker(web_only)
    try:
        wait_for(c, job_id, ("running",), timeout=60)
        first = _pids(web_only, job_id)
        assert all(alive(p) for p in first)
        worker.send_signal(signal.SIGTERM)  # the machine stops: its job is interrupted
        assert worker.wait(timeout=40) == 0
        assert wait_gone(first), "the stopped worker left its job's processes running"
        assert c.get(f"/api/jobs/{job_id}").json()["state"] == "interrupted"
        worker = _start_worker(web_only)
        job = wait_for(c, job_id, ("running",), timeout=60)
        assert job["interruptions"] == 1 and "queued again" in job["reason"]
        second = _pids(web_only, job_id, first)
        assert c.post(f"/api/jobs/{job_id}/cancel").status_code == 200
        assert wait_for(c, job_id, ("cancelled",))["state"] == "cancelled"
        assert wait_gone(second)
    finally:
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
            worker.wait(timeout=40)


def test_fleet_page_shows_each_node_and_runtime_verdict(web_only):
    viewer = web_only.client("viewer")
    assert 'href="/fleet"' in viewer.get("/jobs").text
    page = viewer.get("/fleet")
    assert page.status_code == 200
    body = page.text
    assert "h100-a" in body and "t4-old" in body and "580.95.05" in body
    row = body.split("t4-old", 1)[1].split("</tr>", 1)[0]
    assert "cuda11.8" in body and "verdict-" in row


def test_fleet_page_is_absent_without_a_cluster(tmp_path, wheel_roots):
    portal = PortalProcess(tmp_path, None, wheel_roots, ("--workers", "0"))
    portal.add_users()
    portal.start()
    try:
        viewer = portal.client("viewer")
        assert 'href="/fleet"' not in viewer.get("/jobs").text
        r = viewer.get("/fleet")
        assert r.status_code == 404 and "--nodes" in r.text
    finally:
        portal.stop()

