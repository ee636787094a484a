"""The smallest stand-in for a kube-apiserver that kopf needs to run an operator: discovery,
list and watch of nodes and CudaRuntimes, merge patches (status included), events.

It is not an apiserver: no authentication, no admission, no validation against schemas, no
field selectors, resource versions counted in one sequence. Tests that use it say so in their
names. It runs in a thread of the test process; the test edits its objects through methods.
"""

from __future__ import annotations

import asyncio
import copy
import json
import threading
from functools import partial
from typing import Any

import jsonpatch
import jsonpointer
from aiohttp import web

CR_GROUP, CR_VERSION, CR_PLURAL = "cudaswitch.io", "v1alpha1", "cudaruntimes"


def _merge(target: dict, patch: dict) -> dict:
    for k, v in patch.items():
        if v is None:
            target.pop(k, None)
        elif isinstance(v, dict) and isinstance(target.get(k), dict):
            _merge(target[k], v)
        else:
            target[k] = copy.deepcopy(v)
    return target


class StandinApi:
    def __init__(self) -> None:
        self.objects: dict[str, dict[str, dict]] = {"nodes": {}, CR_PLURAL: {}}
        self.events: list[dict] = []
        self.patches: list[tuple[str, str, dict]] = []
        self.rv = 0
        self.watchers: dict[str, list[asyncio.Queue]] = {"nodes": [], CR_PLURAL: []}
        self.loop: asyncio.AbstractEventLoop | None = None
        self.port = 0
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self.lock = threading.Lock()

    # ---- test-side API (thread-safe) ----
    def put(self, kind: str, obj: dict) -> None:
        self._call(self._put, kind, copy.deepcopy(obj))

    def get(self, kind: str, name: str) -> dict | None:
        with self.lock:
            obj = self.objects[kind].get(name)
            return copy.deepcopy(obj) if obj else None

    def _call(self, fn, *args) -> Any:
        assert self.loop is not None
        return asyncio.run_coroutine_threadsafe(fn(*args), self.loop).result(10)

    async def _put(self, kind: str, obj: dict) -> None:
        name = obj["metadata"]["name"]
        with self.lock:
            old = self.objects[kind].get(name)
            meta = obj["metadata"]
            meta.setdefault("uid", f"uid-{kind}-{name}")
            meta.setdefault("creationTimestamp", "2026-01-01T00:00:00Z")
            if kind == CR_PLURAL:
                obj.setdefault("apiVersion", f"{CR_GROUP}/{CR_VERSION}")
                obj.setdefault("kind", "CudaRuntime")
                gen = (old or {}).get("metadata", {}).get("generation", 0)
                changed = old is None or old.get("spec") != obj.get("spec")
                meta["generation"] = gen + 1 if changed else gen
                if old and "status" in old:
                    obj.setdefault("status", old["status"])
                for key in ("annotations", "finalizers"):
                    if old and key in old["metadata"] and key not in meta:
                        meta[key] = old["metadata"][key]
            else:
                obj.setdefault("apiVersion", "v1")
                obj.setdefault("kind", "Node")
            self.rv += 1
            meta["resourceVersion"] = str(self.rv)
            self.objects[kind][name] = obj
        await self._notify(kind, "ADDED" if old is None else "MODIFIED", obj)

    async def _notify(self, kind: str, etype: str, obj: dict) -> None:
        for q in list(self.watchers[kind]):
            q.put_nowait({"type": etype, "object": copy.deepcopy(obj)})

    # ---- HTTP side ----
    def start(self) -> None:
        ready = threading.Event()

        def main() -> None:
            self.loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self.loop)
            self.loop.run_until_complete(self._start())
            ready.set()
            self.loop.run_forever()

        self._thread = threading.Thread(target=main, daemon=True)
        self._thread.start()
        assert ready.wait(20), "stand-in API did not start"

    async def _start(self) -> None:
        app = web.Application()
        r = app.router
        r.add_get("/api", self.core_versions)
        r.add_get("/api/v1", self.core_resources)
        r.add_get("/apis", self.groups)
        r.add_get(f"/apis/{CR_GROUP}/{CR_VERSION}", self.cr_resources)
        r.add_get("/api/v1/nodes", partial(self.list_or_watch, kind="nodes"))
        r.add_get(f"/apis/{CR_GROUP}/{CR_VERSION}/{CR_PLURAL}",
                  partial(self.list_or_watch, kind=CR_PLURAL))
        r.add_patch(f"/apis/{CR_GROUP}/{CR_VERSION}/{CR_PLURAL}/{{name}}",
                    partial(self.patch, status_only=False))
        r.add_patch(f"/apis/{CR_GROUP}/{CR_VERSION}/{CR_PLURAL}/{{name}}/status",
                    partial(self.patch, status_only=True))
        r.add_post("/api/v1/namespaces/{ns}/events", self.post_event)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]

    def stop(self) -> None:
        if self.loop is None:
            return

        async def shutdown() -> None:
            for qs in self.watchers.values():
                for q in qs:
                    q.put_nowait(None)
            if self._runner:
                await self._runner.cleanup()
        asyncio.run_coroutine_threadsafe(shutdown(), self.loop).result(20)
        self.loop.call_soon_threadsafe(self.loop.stop)
        if self._thread:
            self._thread.join(10)

    async def core_versions(self, _req: web.Request) -> web.Response:
        return web.json_response({"kind": "APIVersions", "versions": ["v1"],
                                  "serverAddressByClientCIDRs": []})

    async def core_resources(self, _req: web.Request) -> web.Response:
        return web.json_response({"kind": "APIResourceList", "groupVersion": "v1", "resources": [
            {"name": "nodes", "singularName": "node", "namespaced": False, "kind": "Node",
             "verbs": ["get", "list", "watch", "patch"]},
            {"name": "events", "singularName": "event", "namespaced": True, "kind": "Event",
             "verbs": ["create", "get", "list"]},
            # kopf waits until namespaces are discoverable, even when it watches cluster-wide
            # and so never lists them
            {"name": "namespaces", "singularName": "namespace", "namespaced": False,
             "kind": "Namespace", "verbs": ["get", "list", "watch"]},
        ]})

    async def groups(self, _req: web.Request) -> web.Response:
        gv = {"groupVersion": f"{CR_GROUP}/{CR_VERSION}", "version": CR_VERSION}
        return web.json_response({"kind": "APIGroupList", "apiVersion": "v1", "groups": [
            {"name": CR_GROUP, "versions": [gv], "preferredVersion": gv}]})

    async def cr_resources(self, _req: web.Request) -> web.Response:
        return web.json_response({"kind": "APIResourceList",
                                  "groupVersion": f"{CR_GROUP}/{CR_VERSION}", "resources": [
            {"name": CR_PLURAL, "singularName": "cudaruntime", "namespaced": False,
             "kind": "CudaRuntime", "verbs": ["get", "list", "watch", "patch", "update"]},
            {"name": f"{CR_PLURAL}/status", "singularName": "", "namespaced": False,
             "kind": "CudaRuntime", "verbs": ["get", "patch", "update"]},
        ]})

    async def list_or_watch(self, req: web.Request, kind: str) -> web.StreamResponse:
        if req.query.get("watch") in ("true", "1"):
            return await self.watch(req, kind)
        with self.lock:
            items = [copy.deepcopy(o) for o in self.objects[kind].values()]
            rv = str(self.rv)
        return web.json_response({"kind": "List", "apiVersion": "v1",
                                  "metadata": {"resourceVersion": rv}, "items": items})

    async def watch(self, req: web.Request, kind: str) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        await resp.prepare(req)
        q: asyncio.Queue = asyncio.Queue()
        since = int(req.query.get("resourceVersion") or 0)
        with self.lock:
            for obj in self.objects[kind].values():
                if int(obj["metadata"]["resourceVersion"]) > since:
                    q.put_nowait({"type": "MODIFIED", "object": copy.deepcopy(obj)})
        self.watchers[kind].append(q)
        timeout = float(req.query.get("timeoutSeconds") or 60)
        try:
            while True:
                try:
                    event = await asyncio.wait_for(q.get(), timeout)
                except asyncio.TimeoutError:
                    break
                if event is None:
                    break
                await resp.write(json.dumps(event).encode() + b"\n")
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self.watchers[kind].remove(q)
        return resp

    async def patch(self, req: web.Request, status_only: bool) -> web.Response:
        name = req.match_info["name"]
        body = await req.json()
        with self.lock:
            obj = self.objects[CR_PLURAL].get(name)
            if obj is None:
                return web.json_response({"kind": "Status", "code": 404}, status=404)
            self.patches.append((name, "status" if status_only else "main", body))
            if isinstance(body, list):  # application/json-patch+json
                try:
                    new = jsonpatch.JsonPatch(body).apply(copy.deepcopy(obj))
                except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException) as e:
                    return web.json_response({"kind": "Status", "code": 422,
                                              "message": str(e)}, status=422)
                body = {k: v for k, v in new.items() if k != "metadata"}
                body["metadata"] = {k: v for k, v in new["metadata"].items()
                                    if k in ("annotations", "finalizers", "labels")}
                for key in ("annotations", "finalizers", "labels"):
                    if key in obj["metadata"] and key not in new["metadata"]:
                        obj["metadata"].pop(key)
            if status_only:
                body = {"status": body.get("status", {})}
            else:  # the main endpoint ignores status when the status subresource exists
                body = {k: v for k, v in body.items() if k != "status"}
            _merge(obj, body)
            self.rv += 1
            obj["metadata"]["resourceVersion"] = str(self.rv)
            out = copy.deepcopy(obj)
        await self._notify(CR_PLURAL, "MODIFIED", out)
        return web.json_response(out)

    async def post_event(self, req: web.Request) -> web.Response:
        body = await req.json()
        with self.lock:
            self.events.append(body)
        return web.json_response(body, status=201)


def kubeconfig(path, port: int) -> None:
    path.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "standin",
        "clusters": [{"name": "standin", "cluster": {"server": f"http://127.0.0.1:{port}"}}],
        "users": [{"name": "standin", "user": {"token": "standin-token"}}],
        "contexts": [{"name": "standin", "context": {"cluster": "standin", "user": "standin"}}],
    }))
