"""Where the webhook's catalog comes from: a file of ``CudaRuntime`` objects, or the cluster,
listed again every few seconds so a new runtime is admitted without a restart."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from .apiclient import RUNTIMES_PATH, ApiError, ClusterConfig, list_items
from .runtime import Catalog, catalog_from_objects, objects_from_text

log = logging.getLogger("cudaswitch.webhook")


def catalog_from_file(path: str, extra_images: Sequence[str] = ()) -> Catalog:
    with open(path, encoding="utf-8") as f:
        return catalog_from_objects(objects_from_text(f.read(), path), extra_images)


class ClusterCatalog:
    """The last good list of runtimes; a failed refresh keeps it and is logged."""

    def __init__(self, cfg: ClusterConfig, extra_images: Sequence[str] = ()) -> None:
        self.cfg = cfg
        self.extra_images = tuple(extra_images)
        self.current = Catalog({}, self.extra_images)
        self.loaded = False

    def __call__(self) -> Catalog:
        return self.current

    def refresh(self) -> None:
        """List the runtimes again. A list that reads as the current catalog keeps that very
        object: the webhook's decisions belong to a catalog object and are forgotten with it,
        which every poll would otherwise do."""
        items = list_items(self.cfg, RUNTIMES_PATH)
        fresh = catalog_from_objects(items, self.extra_images)
        if fresh != self.current or not self.loaded:
            self.current = fresh
            for err in fresh.errors:
                log.warning("CudaRuntime skipped: %s", err)
        self.loaded = True

    async def poll(self, every: float = 10.0) -> None:
        while True:
            try:
                await asyncio.to_thread(self.refresh)
            except ApiError as e:
                log.warning("listing CudaRuntimes failed, keeping %d known: %s",
                            len(self.current.runtimes), e)
            await asyncio.sleep(every)
