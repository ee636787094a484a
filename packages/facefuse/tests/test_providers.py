"""Provider selection against the ONNX Runtime actually installed (the CPU build here)."""

from __future__ import annotations

import onnxruntime
import pytest

from facefuse.cli import main
from facefuse.detect import centerface_model
from facefuse.errors import ProviderError
from facefuse.providers import RuntimeConfig, create_session, tensorrt_cache_dir

pytestmark = pytest.mark.skipif(
    "CUDAExecutionProvider" in onnxruntime.get_available_providers(),
    reason="needs an ONNX Runtime without the CUDA provider")


def test_missing_provider_is_an_error_naming_the_library() -> None:
    with pytest.raises(ProviderError) as raised:
        create_session(centerface_model(64, 64), RuntimeConfig(providers=("cuda",)))
    message = str(raised.value)
    assert "CUDAExecutionProvider" in message
    assert "libonnxruntime_providers_cuda.so" in message
    assert "--allow-cpu-fallback" in message


def test_fallback_runs_on_the_cpu_when_allowed(capsys) -> None:
    session = create_session(centerface_model(64, 64),
                             RuntimeConfig(providers=("cuda",), allow_cpu_fallback=True))
    assert session.get_providers() == ["CPUExecutionProvider"]
    assert "falling back" in capsys.readouterr().err


def test_cli_exit_codes_for_a_missing_provider(tmp_path, grace_path, astronaut_path, capsys):
    output = tmp_path / "out.png"
    base = ["headless-run", "-s", str(grace_path), "-t", str(astronaut_path), "-o", str(output),
            "--execution-providers", "tensorrt", "cuda"]
    assert main(base) == 7
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "TensorrtExecutionProvider" in err
    assert not output.exists()
    assert main([*base, "--allow-cpu-fallback"]) == 0
    assert output.exists()


def test_tensorrt_cache_is_keyed_by_everything_an_engine_depends_on(tmp_path) -> None:
    folder = tensorrt_cache_dir(RuntimeConfig(cache_root=tmp_path))
    assert folder.parent == tmp_path / "tensorrt"
    name = folder.name
    assert f"ort{onnxruntime.__version__}" in name
    assert "-cuda" in name and "-trt" in name and name.split("-")[-1].startswith(("sm_", "unk"))
