"""Reading sources and targets, and writing results without leaving half-written files.

Every output is written to a temporary file in the output's own folder and renamed over
the output path at the very end (rename is atomic on one filesystem), so an error or Ctrl-C
leaves either the previous file or nothing.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from facefuse.errors import InputError, OutputError
from facefuse.types import Frame

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}
VIDEO_SUFFIXES = {".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v", ".gif"}


def is_image_path(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES


def is_video_path(path: Path) -> bool:
    return path.suffix.lower() in VIDEO_SUFFIXES


def read_image(path: Path) -> Frame:
    """A BGR uint8 frame; InputError for a missing, unreadable or truncated file (OpenCV
    alone decodes a truncated JPEG into a half-grey picture without complaint)."""
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    from PIL import Image

    try:
        with Image.open(path) as image:
            image.load()
    except Exception as error:  # PIL raises many kinds for broken files
        raise InputError(f"{path}: unreadable or truncated image ({error})") from None
    frame = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if frame is None:
        raise InputError(f"{path}: unreadable image")
    return np.ascontiguousarray(frame)


def check_output_path(path: Path) -> None:
    """OutputError unless `path`'s folder exists and is writable; checked before any work."""
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise OutputError(f"{path}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise OutputError(f"{path}: folder {folder} is not writable")
    if path.is_dir():
        raise OutputError(f"{path}: is a folder")


def current_umask() -> int:
    """The process umask, read from /proc where it can be (setting it to read it back is
    not atomic for other threads)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def image_encode_params(suffix: str, quality: int) -> list[int]:
    """FaceFusion's 0..100 `--output-image-quality` for OpenCV's encoders: JPEG and WebP
    quality as given, PNG compression 0 (at 100) to 9 (at 0)."""
    suffix = suffix.lower()
    if suffix in (".jpg", ".jpeg"):
        return [cv2.IMWRITE_JPEG_QUALITY, quality]
    if suffix == ".webp":
        return [cv2.IMWRITE_WEBP_QUALITY, max(quality, 1)]
    if suffix == ".png":
        return [cv2.IMWRITE_PNG_COMPRESSION, round(9 - quality * 0.09)]
    return []


@contextlib.contextmanager
def atomic_output(path: Path) -> Iterator[Path]:
    """A temporary path beside `path`; renamed onto `path` when the block succeeds, removed
    when it raises (including KeyboardInterrupt). The result gets the mode a plainly created
    file would (0666 less the umask), not the private 0600 of the temporary file."""
    check_output_path(path)
    handle, name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".partial{path.suffix}",
                                    dir=path.parent)
    os.close(handle)
    temporary = Path(name)
    try:
        yield temporary
        if not temporary.exists() or temporary.stat().st_size == 0:
            raise OutputError(f"{path}: nothing was written")
        os.chmod(temporary, 0o666 & ~current_umask())
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def write_image(path: Path, frame: Frame, quality: int = 80) -> None:
    """Write `frame` to `path` atomically, in the format its suffix names."""
    with atomic_output(path) as temporary:
        ok, encoded = cv2.imencode(path.suffix or ".png", frame,
                                   image_encode_params(path.suffix, quality))
        if not ok:
            raise OutputError(f"{path}: cannot encode an image of this type")
        temporary.write_bytes(encoded.tobytes())
