"""Helpers the cudaswitch tests share (importable; fixtures stay in conftest.py)."""

import base64
import hashlib
import os
import sys
import zipfile
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




def pure_wheel(folder: Path, name: str, version: str, files: dict[str, bytes] | None = None,
               requires: tuple[str, ...] = ()) -> Path:
    """A real pure-Python wheel, as a build backend writes it: ``files`` (default: one module
    for ``name``), METADATA, WHEEL and a RECORD that matches; fixed member dates, so the same
    inputs give the same bytes. pip resolves and installs it like any wheel from an index."""
    mod = name.replace("-", "_")
    dist = f"{mod}-{version}.dist-info"
    meta = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n" \
        + "".join(f"Requires-Dist: {r}\n" for r in requires)
    members = {**(files if files is not None else {f"{mod}/__init__.py": b"VALUE = 1\n"}),
               f"{dist}/METADATA": meta.encode(),
               f"{dist}/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
                                b"Tag: py3-none-any\n"}
    record = "".join(f"{p},sha256={_b64(d)},{len(d)}\n" for p, d in members.items()) \
        + f"{dist}/RECORD,,\n"
    path = folder / f"{mod}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as z:
        for p, d in {**members, f"{dist}/RECORD": record.encode()}.items():
            z.writestr(zipfile.ZipInfo(p, (2024, 1, 1, 0, 0, 0)), d)
    return path


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
