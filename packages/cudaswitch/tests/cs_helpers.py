"""Helpers the cudaswitch tests share (importable; fixtures stay in conftest.py)."""

import os
import sys
from pathlib import Path

CACHE = Path(os.environ.get("CUDASWITCH_TEST_CACHE",
                            Path.home() / ".cache" / "cudaswitch-tests"))
SONAMES = {"11.8": "libcudart.so.11.0", "12.4": "libcudart.so.12", "13.0": "libcudart.so.13"}
PROBE = Path(__file__).resolve().parents[1] / "src" / "cudaswitch" / "probe.py"


def cudaswitch_cmd(*args: str) -> list[str]:
    """The real CLI in a child process (the installed console script's module)."""
    return [sys.executable, "-m", "cudaswitch.cli.main", *args]


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without selector variables that would steer a test."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("CUDASWITCH_", "NVIDIA_REQUIRE")) and k not in (
               "CUDA_VERSION", "CUDA_HOME", "CUDA_PATH", "LD_LIBRARY_PATH")}
    env["CUDASWITCH_CONFIG"] = os.devnull
    env["CUDASWITCH_NO_CACHE"] = "1"
    env.update(extra)
    return env


