"""Model files: CRC32 hash files, re-download on mismatch, resume, all against a real HTTP
server on the loopback interface that honours Range requests."""

from __future__ import annotations

import http.server
import threading
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

from facefuse.download import crc32_hex, ensure_model, is_valid_model
from facefuse.errors import ModelError
from facefuse.models import MODELS, ModelSpec, get_model

PAYLOAD = bytes(range(256)) * 4096  # 1 MiB stand-in for a model file


class _Handler(http.server.BaseHTTPRequestHandler):
    files: ClassVar[dict[str, bytes]] = {}
    log: ClassVar[list[tuple[str, str | None]]] = []

    def do_GET(self) -> None:  # noqa: N802
        data = self.files.get(self.path)
        self.log.append((self.path, self.headers.get("Range")))
        if data is None:
            self.send_error(404)
            return
        start = 0
        if self.headers.get("Range"):
            start = int(self.headers["Range"].split("=")[1].split("-")[0])
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        self.wfile.write(data[start:])

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    _Handler.files = {"/r1/demo.onnx": PAYLOAD,
                      "/r1/demo.hash": f"{zlib.crc32(PAYLOAD):08x}".encode()}
    _Handler.log = []
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}" + "/{release}/{file}"
    httpd.shutdown()


SPEC = ModelSpec("demo", "r1", "face_swapper", "test", "none")


def test_download_writes_model_and_hash(tmp_path: Path, server: str) -> None:
    path = ensure_model(SPEC, tmp_path, bases=[server], progress=False)
    assert path.read_bytes() == PAYLOAD
    assert (tmp_path / "demo.hash").read_text() == crc32_hex(path)
    assert is_valid_model(path, tmp_path / "demo.hash")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo.hash", "demo.onnx"]


def test_a_corrupt_model_is_deleted_and_fetched_again(tmp_path: Path, server: str) -> None:
    ensure_model(SPEC, tmp_path, bases=[server], progress=False)
    (tmp_path / "demo.onnx").write_bytes(b"garbage")
    path = ensure_model(SPEC, tmp_path, bases=[server], progress=False)
    assert path.read_bytes() == PAYLOAD


def test_an_interrupted_download_resumes(tmp_path: Path, server: str) -> None:
    (tmp_path / "demo.onnx.part").write_bytes(PAYLOAD[:300_000])
    path = ensure_model(SPEC, tmp_path, bases=[server], progress=False)
    assert path.read_bytes() == PAYLOAD
    assert ("/r1/demo.onnx", "bytes=300000-") in _Handler.log


def test_the_next_mirror_is_tried(tmp_path: Path, server: str) -> None:
    dead = server.replace("{release}", "missing/{release}")
    ensure_model(SPEC, tmp_path, bases=[dead, server], progress=False)
    assert (tmp_path / "demo.onnx").is_file()


def test_no_reachable_mirror_is_a_model_error(tmp_path: Path, server: str) -> None:
    dead = server.replace("{release}", "missing/{release}")
    with pytest.raises(ModelError, match="cannot download demo"):
        ensure_model(SPEC, tmp_path, bases=[dead], progress=False)
    assert not (tmp_path / "demo.onnx").exists()


def test_a_download_that_never_matches_is_removed(tmp_path: Path, server: str) -> None:
    _Handler.files["/r1/demo.hash"] = b"00000000"
    with pytest.raises(ModelError, match="does not match"):
        ensure_model(SPEC, tmp_path, bases=[server], progress=False)
    assert not (tmp_path / "demo.onnx").exists()


def test_an_existing_facefusion_folder_is_used_without_network(tmp_path: Path) -> None:
    (tmp_path / "demo.onnx").write_bytes(PAYLOAD)
    (tmp_path / "demo.hash").write_text(f"{zlib.crc32(PAYLOAD):08x}")
    assert ensure_model(SPEC, tmp_path, download=False) == tmp_path / "demo.onnx"


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.name)
def test_registry_urls_follow_facefusion_assets(model: ModelSpec) -> None:
    urls = model.urls(".onnx")
    assert urls[0] == ("https://github.com/facefusion/facefusion-assets/releases/download/"
                       f"{model.release}/{model.name}.onnx")
    assert get_model(model.name) is model


def test_unknown_model_name_lists_the_known_ones() -> None:
    with pytest.raises(KeyError, match="inswapper_128"):
        get_model("nope")
