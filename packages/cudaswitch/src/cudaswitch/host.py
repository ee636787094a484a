"""Facts about this machine's NVIDIA driver and GPUs.

The driver version is read from the kernel side first (sysfs, procfs), never from whichever
``libcuda`` the loader happens to find, because that may be a forward-compat copy. Every fact
has an override so that image builds and CI, which have no GPU, can be checked too.
Standard library only: the container entrypoint imports this.
"""

from __future__ import annotations

import ctypes
import os
import re
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field

from .versions import CudaVersion, parse_dotted

DRIVER_ENV = "CUDASWITCH_DRIVER_VERSION"
ARCH_ENV = "CUDASWITCH_GPU_ARCH"
BRAND_ENV = "CUDASWITCH_GPU_BRAND"
DRIVER_CUDA_ENV = "CUDASWITCH_DRIVER_CUDA"

_PROC_RE = re.compile(r"Kernel Module(?:\s+for\s+\S+)?\s+([0-9]+\.[0-9]+(?:\.[0-9]+)?)")
_NVML_BRANDS = {
    0: "Unknown", 1: "Quadro", 2: "Tesla", 3: "NVS", 4: "Grid", 5: "GeForce", 6: "Titan",
    7: "NVIDIA vApps", 8: "NVIDIA VPC", 9: "NVIDIA VCS", 10: "NVIDIA VWS",
    11: "NVIDIA Cloud Gaming", 12: "Quadro RTX", 13: "NVIDIA RTX", 14: "NVIDIA",
    15: "GeForce RTX", 16: "Titan RTX",
}


@dataclass(frozen=True)
class Gpu:
    index: int
    name: str
    brand: str
    compute_capability: str
    memory_mib: int | None = None

    @property
    def sm(self) -> str:
        major, _, minor = self.compute_capability.partition(".")
        return f"sm_{major}{minor or '0'}"


@dataclass(frozen=True)
class Host:
    driver_version: str | None
    driver_cuda: CudaVersion | None
    gpus: tuple[Gpu, ...] = ()
    driver_source: str = "none"
    gpu_source: str = "none"
    notes: tuple[str, ...] = field(default=())

    @property
    def driver_tuple(self) -> tuple[int, ...]:
        return parse_dotted(self.driver_version or "")

    @property
    def has_driver(self) -> bool:
        return bool(self.driver_version)


def read_sysfs(root: str = "/") -> str | None:
    try:
        with open(os.path.join(root, "sys/module/nvidia/version"), encoding="ascii") as f:
            text = f.read().strip()
    except (OSError, UnicodeDecodeError):
        return None
    return text if parse_dotted(text) else None


def read_procfs(root: str = "/") -> str | None:
    try:
        with open(os.path.join(root, "proc/driver/nvidia/version"), encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError):
        return None
    return parse_proc_version(text)


def parse_proc_version(text: str) -> str | None:
    """``NVRM version: NVIDIA UNIX x86_64 Kernel Module  580.159.04  ...`` (open module too)."""
    m = _PROC_RE.search(text)
    return m.group(1) if m else None


def _load_nvml() -> ctypes.CDLL | None:
    for name in ("libnvidia-ml.so.1", "libnvidia-ml.so"):
        try:
            lib = ctypes.CDLL(name)
        except OSError:
            continue
        try:
            if lib.nvmlInit_v2() == 0:
                return lib
        except AttributeError:
            return None
    return None


def read_pynvml() -> tuple[str | None, CudaVersion | None, tuple[Gpu, ...]] | None:
    """Through ``nvidia-ml-py`` when it is installed (the ``nvml`` extra)."""
    try:
        import pynvml
    except ImportError:
        return None
    try:
        pynvml.nvmlInit()
    except Exception:  # pynvml raises its own NVMLError subclasses, e.g. no driver
        return None
    try:
        driver = pynvml.nvmlSystemGetDriverVersion()
        driver = driver.decode() if isinstance(driver, bytes) else driver
        v = pynvml.nvmlSystemGetCudaDriverVersion_v2()
        cuda = CudaVersion(v // 1000, (v % 1000) // 10) if v else None
        gpus = []
        for i in range(pynvml.nvmlDeviceGetCount()):
            h = pynvml.nvmlDeviceGetHandleByIndex(i)
            name = pynvml.nvmlDeviceGetName(h)
            name = name.decode(errors="replace") if isinstance(name, bytes) else name
            major, minor = pynvml.nvmlDeviceGetCudaComputeCapability(h)
            mem = pynvml.nvmlDeviceGetMemoryInfo(h).total // 2**20
            gpus.append(Gpu(i, name, _NVML_BRANDS.get(pynvml.nvmlDeviceGetBrand(h), "Unknown"),
                            f"{major}.{minor}", mem))
        return driver, cuda, tuple(gpus)
    except Exception:
        return None
    finally:
        pynvml.nvmlShutdown()


def read_nvml() -> tuple[str | None, CudaVersion | None, tuple[Gpu, ...]] | None:
    """Driver, driver CUDA and GPUs through NVML: ``nvidia-ml-py`` if installed, else the
    library it wraps, loaded with ctypes (no dependency on the common path)."""
    got = read_pynvml()
    return got if got is not None else read_nvml_ctypes()


def read_nvml_ctypes() -> tuple[str | None, CudaVersion | None, tuple[Gpu, ...]] | None:
    lib = _load_nvml()
    if lib is None:
        return None
    try:
        buf = ctypes.create_string_buffer(96)
        driver = buf.value.decode() if lib.nvmlSystemGetDriverVersion(buf, 96) == 0 else None
        v = ctypes.c_int()
        cuda = None
        if lib.nvmlSystemGetCudaDriverVersion_v2(ctypes.byref(v)) == 0 and v.value:
            cuda = CudaVersion(v.value // 1000, (v.value % 1000) // 10)
        count = ctypes.c_uint()
        gpus = []
        if lib.nvmlDeviceGetCount_v2(ctypes.byref(count)) == 0:
            for i in range(count.value):
                h = ctypes.c_void_p()
                if lib.nvmlDeviceGetHandleByIndex_v2(i, ctypes.byref(h)) != 0:
                    continue
                name = ctypes.create_string_buffer(96)
                lib.nvmlDeviceGetName(h, name, 96)
                brand = ctypes.c_int()
                lib.nvmlDeviceGetBrand(h, ctypes.byref(brand))
                major, minor = ctypes.c_int(), ctypes.c_int()
                lib.nvmlDeviceGetCudaComputeCapability(h, ctypes.byref(major), ctypes.byref(minor))
                mem = (ctypes.c_ulonglong * 3)()
                mib = mem[0] // 2**20 if lib.nvmlDeviceGetMemoryInfo(h, mem) == 0 else None
                gpus.append(
                    Gpu(i, name.value.decode(errors="replace"),
                        _NVML_BRANDS.get(brand.value, "Unknown"),
                        f"{major.value}.{minor.value}", mib)
                )
        return driver, cuda, tuple(gpus)
    finally:
        lib.nvmlShutdown()


def read_nvidia_smi() -> tuple[str | None, CudaVersion | None, tuple[Gpu, ...]] | None:
    exe = shutil.which("nvidia-smi")
    if not exe:
        return None
    try:
        out = subprocess.run(
            [exe, "--query-gpu=index,name,compute_cap,memory.total,driver_version",
             "--format=csv,noheader,nounits"],
            capture_output=True, text=True, timeout=20, check=True,
        ).stdout
        head = subprocess.run([exe], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return parse_nvidia_smi(out, head)


def parse_nvidia_smi(csv: str, header: str = "") -> tuple[str | None, CudaVersion | None,
                                                         tuple[Gpu, ...]]:
    gpus, driver = [], None
    for line in csv.splitlines():
        cols = [c.strip() for c in line.split(",")]
        if len(cols) < 5 or not cols[0].isdigit():
            continue
        driver = cols[4]
        mem = int(cols[3]) if cols[3].isdigit() else None
        gpus.append(Gpu(int(cols[0]), cols[1], brand_from_name(cols[1]), cols[2], mem))
    m = re.search(r"CUDA Version:\s*([0-9]+\.[0-9]+)", header)
    return driver, CudaVersion.parse(m.group(1)) if m else None, tuple(gpus)


def brand_from_name(name: str) -> str:
    """nvidia-smi prints no brand; names say enough for the compat rules that use it."""
    n = name.lower()
    if "titan" in n:
        return "Titan"
    if "geforce" in n:
        return "GeForce RTX" if "rtx" in n else "GeForce"
    if "quadro" in n:
        return "Quadro"
    if "tesla" in n:
        return "Tesla"
    if re.search(r"\brtx\b", n):
        return "NVIDIA RTX"
    return "NVIDIA"


def overrides(env: Mapping[str, str]) -> tuple[str | None, tuple[Gpu, ...] | None, str | None]:
    """The override variables, validated: a bad value is an error, not silently ignored."""
    driver = env.get(DRIVER_ENV) or None
    if driver is not None and not parse_dotted(driver):
        raise ValueError(f"{DRIVER_ENV}={driver!r} is not a driver version (e.g. 580.95.05)")
    gpus = None
    arch = env.get(ARCH_ENV)
    if arch:
        brand = env.get(BRAND_ENV) or "NVIDIA"
        items = []
        for i, cc in enumerate(a.strip() for a in arch.split(",")):
            if not re.fullmatch(r"[0-9]{1,2}\.[0-9]{1,2}", cc):
                raise ValueError(f"{ARCH_ENV}={arch!r}: {cc!r} is not a compute capability "
                                 "(e.g. 9.0, or 8.6,9.0 for two GPUs)")
            items.append(Gpu(i, f"GPU {i} (from {ARCH_ENV})", brand, cc))
        gpus = tuple(items)
    driver_cuda = env.get(DRIVER_CUDA_ENV) or None
    return driver, gpus, driver_cuda


def detect_host(env: Mapping[str, str] | None = None, root: str = "/",
                probe_gpus: bool = True) -> Host:
    """Driver: override, sysfs, procfs, NVML, nvidia-smi, in that order; GPUs alike."""
    env = os.environ if env is None else env
    o_driver, o_gpus, o_cuda = overrides(env)
    driver, cuda, gpus, gpu_source = o_driver, None, (), "none"
    source = "override" if o_driver else "none"
    if o_gpus is not None:
        gpus, gpu_source = o_gpus, "override"
    if driver is None:
        for src, reader in (("sysfs", read_sysfs), ("procfs", read_procfs)):
            driver = reader(root)
            if driver:
                source = src
                break
    need_gpus = probe_gpus and o_gpus is None and root == "/"
    # NVML and nvidia-smi need the kernel module, which sysfs, procfs or /dev/nvidiactl show;
    # without any of them, asking costs time and answers nothing.
    module_loaded = driver is not None or os.path.exists("/dev/nvidiactl")
    if (driver is None or need_gpus) and root == "/" and not o_driver and module_loaded:
        for src, reader in (("nvml", read_nvml), ("nvidia-smi", read_nvidia_smi)):
            got = reader()
            if got is None:
                continue
            d, c, g = got
            if driver is None and d:
                driver, source = d, src
            cuda = cuda or c
            if o_gpus is None and g:
                gpus, gpu_source = g, src
            break
    if o_cuda:
        cuda = CudaVersion.parse(o_cuda)
    return Host(driver, cuda, tuple(gpus), source, gpu_source)
