"""Start-to-exec time of ``cudaswitch-entrypoint true`` against a bash entrypoint doing what
the founding article's does (replace the ``cuda`` symlink, export PATH and LD_LIBRARY_PATH,
print the ``nvcc --version`` release line, exec), measured side by side in one run. The baked
entrypoint (``cudaswitch launcher --bake``, what an image's first start in a fresh container
runs, its cache empty) is measured in the same run, and so is a copy of it reading a GPU
host's driver and GPU from a fake sysfs/procfs tree (what such a host's start adds: one child
shell reading the GPUs' PCI ids).

Usage: uv run python bench/entrypoint_bench.py [--rounds N]
Needs a toolkit with ``bin/nvcc`` (this machine's /usr/local/cuda-13.0, or CUDASWITCH_PATH).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

from _common import compile_package, interleaved

from cudaswitch.toolkits import discover

BASH = """#!/bin/bash
set -e
case "${{CUDA_VERSION}}" in
  {mm}) CUDA_HOME={root} ;;
  *) echo "unsupported CUDA_VERSION: ${{CUDA_VERSION}}" >&2; exit 1 ;;
esac
rm -f {link}
ln -s "${{CUDA_HOME}}" {link}
export CUDA_HOME
export PATH="{link}/bin:${{PATH}}"
export LD_LIBRARY_PATH="{link}/lib64:${{LD_LIBRARY_PATH}}"
echo "CUDA: $(nvcc --version | grep release)" >&2
exec "$@"
"""


def gpu_host_copy(baked: str, root: str) -> str:
    """The baked script reading a GPU host's /sys and /proc from ``root``, where a tree laid
    out as the NVIDIA module writes it (driver 580.65.06, one H200) stands in for them: there
    is no GPU here. Only the script's ``_cs_root=`` line differs."""
    addr = "0000:00:06.0"
    files = {"sys/module/nvidia/version": "580.65.06\n",
             f"proc/driver/nvidia/gpus/{addr}/information": "Model: \t\t NVIDIA H200\n",
             f"sys/bus/pci/devices/{addr}/vendor": "0x10de\n",
             f"sys/bus/pci/devices/{addr}/device": "0x2335\n"}
    for rel, text in files.items():
        os.makedirs(os.path.dirname(os.path.join(root, rel)), exist_ok=True)
        with open(os.path.join(root, rel), "w") as f:
            f.write(text)
    with open(baked) as f:
        text = f.read().replace("\n_cs_root=\n", f"\n_cs_root='{root}'\n", 1)
    path = baked + "-gpu-host"
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o755)
    return path


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=60)
    args = ap.parse_args()
    tk = next((t for t in discover() if t.ok and "nvcc" in t.components), None)
    if tk is None:
        print("no toolkit with bin/nvcc found", file=sys.stderr)
        return 2
    compile_package()
    work = tempfile.mkdtemp(prefix="cs-bench-")
    try:
        script = os.path.join(work, "entrypoint.sh")
        with open(script, "w") as f:
            f.write(BASH.format(mm=tk.version.major_minor, root=tk.root,
                                link=os.path.join(work, "cuda")))
        os.chmod(script, 0o755)
        launcher = os.path.join(work, "cudaswitch-entrypoint")
        subprocess.run([sys.executable, "-m", "cudaswitch.cli.main", "launcher", launcher],
                       check=True, stdout=subprocess.DEVNULL)
        console = shutil.which("cudaswitch-entrypoint") or os.path.join(
            os.path.dirname(sys.executable), "cudaswitch-entrypoint")
        env = {k: v for k, v in os.environ.items() if not k.startswith("CUDASWITCH_")}
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env.update(CUDA_VERSION=tk.version.major_minor, CUDASWITCH_QUIET="1",
                   CUDASWITCH_CONFIG=os.devnull, CUDASWITCH_CACHE_DIR=os.path.join(work, "c"))
        baked = os.path.join(work, "baked-entrypoint")
        subprocess.run([sys.executable, "-m", "cudaswitch.cli.main", "launcher", baked,
                        "--bake"], env=env, check=True, stdout=subprocess.DEVNULL)
        # "only": exit 125 rather than hand over, so a timing is never the Python fallback's
        env["CUDASWITCH_BAKED"] = "only"
        subprocess.run([baked, "true"], env=env, check=True)
        gpu_host = gpu_host_copy(baked, os.path.join(work, "host"))
        subprocess.run([gpu_host, "true"], env=env, check=True)
        for cmd in ([launcher, "true"], [console, "true"]):
            subprocess.run(cmd, env=env, check=True)
        cold = dict(env, CUDASWITCH_NO_CACHE="1")
        res = interleaved({
            "bash entrypoint": [script, "true"],
            "baked sh entrypoint (fresh container: no cache)": [baked, "true"],
            "baked, GPU host (driver and an H200 from sysfs/procfs)": [gpu_host, "true"],
            "cudaswitch-entrypoint (launcher, python -IS)": [launcher, "true"],
            "cudaswitch-entrypoint (pip console script)": [console, "true"],
            "python -IS -c pass": [sys.executable, "-IS", "-c", "pass"],
        }, env, args.rounds)
        res.update(interleaved({"cudaswitch-entrypoint (launcher, cache off)": [launcher, "true"]},
                               cold, max(10, args.rounds // 3)))
        base = res["bash entrypoint"]["median_ms"]
        for v in res.values():
            v["ratio_to_bash"] = round(v["median_ms"] / base, 3)
        print(json.dumps({"toolkit": tk.root, "version": str(tk.version), "rounds": args.rounds,
                          "results": res}, indent=2))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
