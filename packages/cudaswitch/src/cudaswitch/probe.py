"""Load ``libcudart`` the way an application does and report what the process really got.

Runs as a plain file (``python -I -S probe.py``) with no package imports, so it costs little
and sees exactly the environment it was started with: ``--verify`` and the tests run it as a
child process under a plan's environment. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import re
import sys

CUDA_LIB_RE = re.compile(
    r"/(?:lib)?(cudart|nvrtc|nvrtc-builtins|cublas|cublasLt|nvblas|cudnn\w*|cufftw?|curand|"
    r"cusolver\w*|cusparse|cusparseLt|nvJitLink|nvinfer\w*|nvonnxparser|nccl|cufile\w*|cupti|"
    r"nvshmem\w*|cutensor\w*|cuda)(?:\.alt)?\.so[.\d]*$"
)


def mapped_cuda_libs() -> list[str]:
    seen: list[str] = []
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as f:
            for line in f:
                parts = line.split(None, 5)
                if len(parts) == 6:
                    path = parts[5].strip()
                    if CUDA_LIB_RE.search(path) and path not in seen:
                        seen.append(path)
    except OSError:
        pass
    return seen


def _error_name(lib: ctypes.CDLL, rc: int) -> str:
    try:
        fn = lib.cudaGetErrorName
        fn.restype = ctypes.c_char_p
        name = fn(rc)
        return name.decode() if name else f"cudaError {rc}"
    except AttributeError:
        return f"cudaError {rc}"


def probe(soname: str | None, path: str | None, device: bool) -> dict:
    report: dict = {"requested": path or soname, "loaded": False}
    try:
        lib = ctypes.CDLL(path or soname, mode=ctypes.RTLD_LOCAL)
    except OSError as e:
        report["load_error"] = str(e)
        report["maps"] = mapped_cuda_libs()
        return report
    report["loaded"] = True
    v = ctypes.c_int(0)
    rc = lib.cudaRuntimeGetVersion(ctypes.byref(v))
    report["runtime_rc"] = rc
    report["runtime_error"] = None if rc == 0 else _error_name(lib, rc)
    report["runtime_version"] = v.value
    d = ctypes.c_int(0)
    drc = lib.cudaDriverGetVersion(ctypes.byref(d))
    report["driver_version"] = d.value if drc == 0 else None
    if device:
        n = ctypes.c_int(0)
        crc = lib.cudaGetDeviceCount(ctypes.byref(n))
        report["device_rc"] = crc
        report["device_error"] = None if crc == 0 else _error_name(lib, crc)
        report["device_count"] = n.value
        if crc == 0 and n.value > 0:
            ptr = ctypes.c_void_p()
            mrc = lib.cudaMalloc(ctypes.byref(ptr), ctypes.c_size_t(1 << 20))
            report["malloc_rc"] = mrc
            report["malloc_error"] = None if mrc == 0 else _error_name(lib, mrc)
            if mrc == 0:
                lib.cudaFree(ptr)
    report["maps"] = mapped_cuda_libs()
    report["ld_library_path"] = os.environ.get("LD_LIBRARY_PATH", "")
    return report


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--soname", help="load by soname, as a linked application would")
    g.add_argument("--path", help="load by absolute path")
    ap.add_argument("--device", action="store_true",
                    help="also count devices and allocate 1 MiB on the first")
    args = ap.parse_args(argv)
    json.dump(probe(args.soname, args.path, args.device), sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
