"""Discovery of CUDA toolkits on disk: one module per layout, a runner in ``search``."""

from .model import Toolkit
from .search import data_home, discover

__all__ = ["Toolkit", "data_home", "discover"]
