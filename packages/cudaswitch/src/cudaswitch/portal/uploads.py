"""What an upload is, decided by its content; its name is only shown, never used as a path.

Photos are opened and fully decoded with Pillow (a truncated or corrupt file fails here, not
in the job); videos are recognised by their container's magic bytes and, where ffprobe is
installed, probed for a video stream and its size.
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import warnings
from dataclasses import dataclass

from PIL import Image

from ..errors import UsageError

IMAGE_FORMATS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp", "BMP": "bmp"}
MAX_PIXELS = 40_000_000  # a 40-megapixel photo; larger ones are refused as decompression bombs
VIDEO_NAMES = "MP4, MOV, MKV, WebM or AVI"
IMAGE_NAMES = "JPEG, PNG, WebP or BMP"


@dataclass(frozen=True)
class Media:
    kind: str  # image | video
    ext: str  # the file suffix the job gets, from the content
    width: int | None
    height: int | None


# What each file suffix the portal writes is served as (the suffix itself comes from the
# content, see inspect_upload); anything else is an opaque download.
MEDIA_TYPES = {"jpg": "image/jpeg", "png": "image/png", "webp": "image/webp", "bmp": "image/bmp",
               "mp4": "video/mp4", "mov": "video/quicktime", "mkv": "video/x-matroska",
               "webm": "video/webm", "avi": "video/x-msvideo"}


def media_type(path: str) -> str:
    return MEDIA_TYPES.get(path.rsplit(".", 1)[-1].lower(), "application/octet-stream")


class UploadError(UsageError):
    """An upload was refused; the message says what was wrong and what is accepted."""


def _video_ext(head: bytes) -> str | None:
    if len(head) >= 12 and head[4:8] == b"ftyp":
        return "mov" if head[8:10] == b"qt" else "mp4"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "webm" if b"webm" in head[:64] else "mkv"
    if head.startswith(b"RIFF") and head[8:12] == b"AVI ":
        return "avi"
    return None


def _probe_video(path: str, field: str) -> tuple[int | None, int | None]:
    ffprobe = shutil.which("ffprobe")
    if ffprobe is None:
        return None, None
    try:
        out = subprocess.run([ffprobe, "-v", "error", "-select_streams", "v:0", "-show_entries",
                              "stream=width,height", "-of", "json", path],
                             capture_output=True, text=True, timeout=20, check=False)
        streams = json.loads(out.stdout or "{}").get("streams") or []
    except (subprocess.TimeoutExpired, ValueError, OSError) as e:
        raise UploadError(f"{field}: the video could not be read ({e})") from e
    if out.returncode != 0 or not streams:
        raise UploadError(f"{field}: the file starts like a video but has no readable video "
                          "stream (truncated or corrupt?); upload a complete "
                          f"{VIDEO_NAMES} file")
    return streams[0].get("width"), streams[0].get("height")


def inspect_upload(data: bytes, field: str, allow_video: bool, max_bytes: int,
                   spooled_path: str | None = None) -> Media:
    """The media in ``data``, or UploadError naming what was wrong and what is accepted."""
    accepted = IMAGE_NAMES + (f" photo, or a {VIDEO_NAMES} video" if allow_video else " photo")
    if not data:
        raise UploadError(f"{field}: the file is empty; upload a {accepted}")
    if len(data) > max_bytes:
        raise UploadError(f"{field}: {len(data) / 2**20:.1f} MiB is over the limit of "
                          f"{max_bytes / 2**20:.0f} MiB per file")
    video = _video_ext(data[:64])
    if video:
        if not allow_video:
            raise UploadError(f"{field}: a video is not accepted here; upload a "
                              f"{IMAGE_NAMES} photo")
        w, h = _probe_video(spooled_path, field) if spooled_path else (None, None)
        return Media("video", video, w, h)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            Image.MAX_IMAGE_PIXELS = MAX_PIXELS
            with Image.open(io.BytesIO(data)) as img:
                fmt = img.format or ""
                if fmt not in IMAGE_FORMATS:
                    raise UploadError(f"{field}: {fmt or 'this'} images are not accepted; "
                                      f"upload a {accepted}")
                img.load()
                return Media("image", IMAGE_FORMATS[fmt], img.width, img.height)
    except UploadError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise UploadError(f"{field}: the image is larger than {MAX_PIXELS // 10**6} "
                          "megapixels") from e
    except Exception as e:  # Pillow raises many kinds for bad data; all mean the same here
        what = "truncated or corrupt" if "truncat" in str(e).lower() else "not a readable image"
        raise UploadError(f"{field}: the content is {what}; upload a complete {accepted}") \
            from e


def display_name(name: str | None) -> str:
    """The client's file name, reduced to something safe to show (never used as a path)."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = "".join(c for c in base if c.isprintable())[:100]
    return cleaned or "upload"
