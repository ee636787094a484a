"""cudaswitch: several CUDA toolkits side by side; each process picks exactly one."""

__version__ = "0.1.0"
