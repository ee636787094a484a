"""ONNX Runtime sessions on the provider the user asked for, and nothing else silently.

ONNX Runtime falls back to the CPU with one log line when a GPU provider cannot load
(a missing `libcudnn.so.9`, a CUDA 12 build on a CUDA 13 host, ...). FaceFusion users then see
a GPU at 0 %. Here a session whose active providers lack a requested one is an error that
names the library the dynamic loader could not find, unless the user opted into the fallback.
"""

from __future__ import annotations

import ctypes
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from facefuse import log
from facefuse.choices import execution_provider_names
from facefuse.errors import ProviderError

PROVIDER_LIBRARIES: dict[str, str] = {
    "CUDAExecutionProvider": "libonnxruntime_providers_cuda.so",
    "TensorrtExecutionProvider": "libonnxruntime_providers_tensorrt.so",
}


@dataclass(frozen=True)
class RuntimeConfig:
    """How to create every session of one run."""

    providers: tuple[str, ...] = ("cpu",)
    device_id: int = 0
    thread_count: int = 0
    allow_cpu_fallback: bool = False
    cache_root: Path = field(default_factory=lambda: Path.home() / ".cache" / "facefuse")


def resolve_provider_names(providers: tuple[str, ...]) -> list[str]:
    """FaceFusion's short names (`cuda`, `tensorrt`, `cpu`) as ONNX Runtime names."""
    names = []
    for provider in providers:
        if provider not in execution_provider_names:
            known = ", ".join(execution_provider_names)
            raise ProviderError(f"unknown execution provider {provider!r} (choose from {known})")
        names.append(execution_provider_names[provider])
    return names


def _ort() -> Any:
    import onnxruntime

    return onnxruntime


@lru_cache(maxsize=1)
def _ort_capi_dir() -> Path:
    return Path(_ort().__file__).parent / "capi"


def _needed_major(library: Path, stem: str) -> str | None:
    """The major version of `stem` (e.g. `libcublasLt.so`) that an ORT provider library links
    against, read from the soname strings in the file; None when not found."""
    try:
        data = library.read_bytes()
    except OSError:
        return None
    match = re.search(re.escape(stem.encode()) + rb"\.(\d+)", data)
    return match.group(1).decode() if match else None


def cuda_major() -> str:
    """CUDA major the installed ORT GPU build was made for (from its cuBLAS soname)."""
    library = _ort_capi_dir() / PROVIDER_LIBRARIES["CUDAExecutionProvider"]
    return _needed_major(library, "libcublasLt.so") or "none"


def tensorrt_version() -> str:
    """TensorRT version: the `tensorrt` module's when importable, else the libnvinfer major
    the ORT TensorRT provider links against."""
    try:
        import tensorrt  # type: ignore[import-not-found]

        return str(tensorrt.__version__)
    except Exception:
        library = _ort_capi_dir() / PROVIDER_LIBRARIES["TensorrtExecutionProvider"]
        return _needed_major(library, "libnvinfer.so") or "none"


def gpu_arch(device_id: int) -> str:
    """Compute capability of the GPU as `sm_90`, from nvidia-smi; `unknown` without one."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return "unknown"
    try:
        out = subprocess.run(
            [smi, "--query-gpu=compute_cap", "--format=csv,noheader", f"--id={device_id}"],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return "sm_" + out.replace(".", "") if out else "unknown"


def tensorrt_cache_dir(config: RuntimeConfig) -> Path:
    """Engine and timing cache folder keyed by everything an engine depends on: ORT version,
    CUDA major, TensorRT version and GPU arch (FaceFusion keys by the ORT version only, so
    its engines are reused where they are invalid)."""
    key = (f"ort{_ort().__version__}-cuda{cuda_major()}-trt{tensorrt_version()}-"
           f"{gpu_arch(config.device_id)}")
    return config.cache_root / "tensorrt" / key


def provider_options(name: str, config: RuntimeConfig) -> dict[str, Any]:
    """The options FaceFusion sets per provider, with the TensorRT cache keyed properly."""
    if name == "CUDAExecutionProvider":
        # DEFAULT search picks a fallback kernel for CenterFace's depthwise convolutions on
        # cuDNN 9 (181 ms per 640x640 frame on an H100, against 1.7 ms with EXHAUSTIVE)
        return {"device_id": config.device_id, "cudnn_conv_algo_search": "EXHAUSTIVE"}
    if name == "TensorrtExecutionProvider":
        cache = tensorrt_cache_dir(config)
        cache.mkdir(parents=True, exist_ok=True)
        return {
            "device_id": config.device_id,
            "trt_engine_cache_enable": True,
            "trt_engine_cache_path": str(cache),
            "trt_timing_cache_enable": True,
            "trt_timing_cache_path": str(cache),
            "trt_builder_optimization_level": 4,
        }
    return {}


def missing_library(provider: str) -> str:
    """Why a provider did not load, in the dynamic loader's words (`libcudnn.so.9: cannot open
    shared object file`), found by loading ORT's provider library ourselves."""
    ort = _ort()
    if provider not in ort.get_available_providers():
        library = PROVIDER_LIBRARIES.get(provider, provider)
        return (f"this onnxruntime {ort.__version__} build has no {provider} "
                f"({library} is not part of it; install onnxruntime-gpu, and only it)")
    library = PROVIDER_LIBRARIES.get(provider)
    if library is None:
        return f"{provider} did not start"
    shared = _ort_capi_dir() / "libonnxruntime_providers_shared.so"
    try:
        if shared.exists():
            ctypes.CDLL(str(shared), mode=ctypes.RTLD_GLOBAL)
        ctypes.CDLL(str(_ort_capi_dir() / library))
    except OSError as error:
        return str(error)
    return f"{library} loads, but {provider} did not start (see the ONNX Runtime log above)"


def create_session(model: str | bytes, config: RuntimeConfig) -> Any:
    """An InferenceSession on the requested providers, in the requested order.

    Raises ProviderError when a requested provider is not active in the created session,
    naming the missing library, unless `allow_cpu_fallback` is set (then a warning).
    """
    ort = _ort()
    names = resolve_provider_names(config.providers)
    available = ort.get_available_providers()
    wanted = [name for name in names if name in available]
    if "CPUExecutionProvider" not in wanted:
        wanted.append("CPUExecutionProvider")
    options = ort.SessionOptions()
    options.log_severity_level = 3
    if config.thread_count > 0:
        options.intra_op_num_threads = config.thread_count
    session = ort.InferenceSession(
        model, sess_options=options,
        providers=[(name, provider_options(name, config)) for name in wanted],
    )
    active = session.get_providers()
    missing = [name for name in names if name not in active]
    if missing:
        reasons = "; ".join(f"{name}: {missing_library(name)}" for name in missing)
        if not config.allow_cpu_fallback:
            raise ProviderError(f"requested provider not active ({reasons}); "
                                f"pass --allow-cpu-fallback to run on {', '.join(active)}")
        log.warn(f"facefuse: warning: falling back to {', '.join(active)} ({reasons})")
    return session
