"""The queue's per-device limit, on the real database layer (SQLite file, real migrations).

No GPU exists here, so the GPU jobs are rows naming ``gpu:0``/``gpu:1`` that no process ever
runs: the limit is decided by ``claim`` from the rows alone, the same code that holds CPU jobs
back in the API tests with real processes.
"""

from __future__ import annotations

import threading

from cudaswitch.portal.config import default_config
from cudaswitch.portal.db import Database, migrate
from cudaswitch.portal.models import Job
from cudaswitch.portal.queue import claim


def _queued(db: Database, device: str, n: int) -> list[int]:
    ids = []
    with db.session() as s:
        for _ in range(n):
            job = Job(kind="command", command_name="x", slot="cuda12.4", slot_source="implicit",
                      provider="cpu" if device == "cpu" else "cuda", device=device,
                      state="queued", owner="runner")
            s.add(job)
            s.flush()
            ids.append(job.id)
    return ids


def test_stand_in_gpu_jobs_respect_the_per_gpu_limit_across_racing_workers(tmp_path):
    config = default_config({"CUDASWITCH_HOME": str(tmp_path)}, per_gpu=2, cpu_jobs=1)
    db = Database(config.database_url)
    migrate(db.engine)
    _queued(db, "gpu:0", 5)
    _queued(db, "gpu:1", 5)
    _queued(db, "cpu", 3)
    taken: list[Job] = []
    lock = threading.Lock()

    def worker(i: int) -> None:
        for _ in range(10):
            job = claim(db, config, f"test:{i}")
            if job is not None:
                with lock:
                    taken.append(job)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    per_device: dict[str, int] = {}
    for job in taken:
        per_device[job.device] = per_device.get(job.device, 0) + 1
    assert per_device == {"gpu:0": 2, "gpu:1": 2, "cpu": 1}
    with db.read() as s:
        running = s.query(Job).filter(Job.state == "running").count()
    assert running == 5
    db.dispose()
