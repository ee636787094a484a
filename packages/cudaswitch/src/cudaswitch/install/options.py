"""What an install is told: the environment, where wheels come from, where a slot goes,
how progress is shown; and the data home as the root every removal stays inside.

Its own module so that the slot install (``engine``) and the slot environment (``venv``)
share it without importing each other.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from .. import fsguard
from ..errors import UsageError
from ..toolkits.search import data_home
from .pip import IndexOptions
from .progress import Reporter

CACHE_ENV = "CUDASWITCH_CACHE"


@dataclass
class InstallOptions:
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    wheelhouse: str | None = None
    index_url: str | None = None
    prefix: str | None = None
    reporter: Reporter = field(default_factory=lambda: Reporter(mode="quiet"))

    @property
    def home(self) -> str:
        return data_home(self.env)

    @property
    def cache(self) -> str:
        return self.env.get(CACHE_ENV) or os.path.join(self.home, "cache")

    @property
    def index(self) -> IndexOptions:
        wh = os.path.abspath(self.wheelhouse) if self.wheelhouse else None
        return IndexOptions(wheelhouse=wh, index_url=self.index_url)


def home_guard(home: str) -> fsguard.Root:
    """The data home as the root of every removal; a home that is a file is bad input."""
    try:
        return fsguard.home_root(home)
    except (FileExistsError, NotADirectoryError) as e:
        raise UsageError(f"CUDASWITCH_HOME={home}: not a folder (a file is in the way); "
                         "point it at a folder") from e
    except fsguard.RefusedError as e:
        raise UsageError(f"CUDASWITCH_HOME={home}: {e}") from e
