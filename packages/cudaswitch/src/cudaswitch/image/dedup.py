"""Identical files between slot venvs, stored once; run inside the image by its build steps.

Slots differ in their CUDA-specific packages (onnxruntime-gpu, NumPy's major) but share most
of the rest: the same OpenCV, Pillow, onnx and ffmpeg wheels installed into each venv give
byte-identical files at the same paths. The slot stages are a chain (slot 2 is built on slot
1), so the later slot's step can replace each such file by a symbolic link to the earlier
slot's copy, which already sits in a lower layer: the later layer then holds a link, not a
second copy.

``link SLOT_DIR EARLIER_DIR...``: in ``SLOT_DIR``, each regular file whose path relative to it
names a regular file of the same size and bytes in an earlier folder (the first that has one)
becomes an absolute link to that file. Links already there (``bin/python``) stay as they are,
an earlier file that is itself a link is never a target, and small files are left alone (a
link saves nothing there). Only venvs are linked: a toolkit's libraries stay its own, so a
process's CUDA libraries always resolve inside the chosen slot.

``copy SRC DEST MOUNT``: a slot's folder copied out of a stage mounted at ``MOUNT`` (the
image of one later slot, which does not hold the earlier slots): a link into ``/opt/cudaswitch``
is followed through the mount and written as the file it names; every other link is kept.
"""

from __future__ import annotations

import filecmp
import os
import shutil
import sys
from collections.abc import Sequence

from ..units import human_size

HOME = "/opt/cudaswitch"
MIN_BYTES = 4096


def same_file(a: str, b: str) -> bool:
    """Two regular files (never links) with the same size and bytes."""
    try:
        sa, sb = os.lstat(a), os.lstat(b)
    except OSError:
        return False
    import stat

    if not (stat.S_ISREG(sa.st_mode) and stat.S_ISREG(sb.st_mode)):
        return False
    return sa.st_size == sb.st_size and filecmp.cmp(a, b, shallow=False)


def link_duplicates(folder: str, earlier: Sequence[str], min_bytes: int = MIN_BYTES
                    ) -> tuple[int, int]:
    """Replace files of ``folder`` that an earlier folder holds byte for byte at the same
    relative path by absolute links to it; (files linked, bytes no longer stored)."""
    count = saved = 0
    for root, _dirs, files in os.walk(folder):
        rel_root = os.path.relpath(root, folder)
        for name in files:
            path = os.path.join(root, name)
            st = os.lstat(path)
            if not os.path.isfile(path) or os.path.islink(path) or st.st_size < min_bytes:
                continue
            for other in earlier:
                target = os.path.normpath(os.path.join(other, rel_root, name))
                if same_file(path, target):
                    tmp = path + ".cudaswitch-link"
                    os.symlink(target, tmp)
                    os.replace(tmp, path)
                    count += 1
                    saved += st.st_size
                    break
    return count, saved


def copy_resolved(src: str, dest: str, mount: str, home: str = HOME) -> int:
    """Copy ``src`` (inside ``mount``, which holds the stage's ``home``) to ``dest``: a link
    into ``home`` becomes a copy of the file it names, read through the mount; other links
    and every file are copied as they are. Returns the number of links followed."""
    followed = 0
    prefix = home.rstrip("/") + "/"
    for root, dirs, files in os.walk(src):
        rel_root = os.path.relpath(root, src)
        out_root = os.path.normpath(os.path.join(dest, rel_root))
        os.makedirs(out_root, exist_ok=True)
        shutil.copystat(root, out_root)
        for name in [*dirs, *files]:
            path = os.path.join(root, name)
            out = os.path.join(out_root, name)
            if os.path.islink(path):
                target = os.readlink(path)
                if target.startswith(prefix):
                    shutil.copy2(os.path.join(mount, target[len(prefix):]), out)
                    followed += 1
                else:
                    os.symlink(target, out)
                if name in dirs:
                    dirs.remove(name)
            elif name in files:
                shutil.copy2(path, out)
    return followed


def main(argv: Sequence[str]) -> int:
    if len(argv) >= 2 and argv[0] == "link":
        count, saved = link_duplicates(argv[1], argv[2:])
        print(f"{argv[1]}: {count} files identical to an earlier slot's linked "
              f"({human_size(saved)} stored once)")
        return 0
    if len(argv) == 4 and argv[0] == "copy":
        n = copy_resolved(argv[1], argv[2], argv[3])
        print(f"{argv[2]}: copied, {n} links to another slot's files replaced by the files")
        return 0
    print("usage: python -m cudaswitch.image.dedup link DIR EARLIER... | copy SRC DEST MOUNT",
          file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
