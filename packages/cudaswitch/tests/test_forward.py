"""The CUDA forward-compat decision: every row of nvidia-require-cases.md §E, on real ELF files.

Each compat library is a tiny shared object built with gcc; the NVIDIA note is added with
``objcopy --add-section``, as NVIDIA's own ``libcuda.so`` carries it.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import struct
import subprocess
from pathlib import Path

import pytest

from cudaswitch.compat.forward import (
    NOTE_SECTION,
    CompatHeader,
    CompatNoteError,
    ElfError,
    compat_dir,
    find_compat_libs,
    ldconfig_conf,
    parse_note,
    read_compat_header,
    resolve_in_root,
    use_compat,
    write_ldconfig_conf,
)

pytestmark = pytest.mark.skipif(
    not (shutil.which("gcc") and shutil.which("objcopy")), reason="needs gcc and objcopy"
)

DEVICES = [1, 2, 7, 8, 9, 10, 11, 12, 13, 14]
PAYLOAD_575 = {"format": 1, "CUDA version": "12.9", "Driver": [535, 550, 560, 565, 570, 575],
               "Device": DEVICES}
PAYLOAD_590 = {"format": 1, "CUDA version": "13.1", "Driver": [535, 550, 570, 575, 580, 590],
               "Device": DEVICES}
HEADER_575 = CompatHeader(1, "12.9", (535, 550, 560, 565, 570, 575), tuple(DEVICES))


@pytest.fixture(scope="session")
def base_so(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("elf")
    (d / "stub.c").write_text("int cuda_stub(void) { return 42; }\n")
    out = d / "stub.so"
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(out), str(d / "stub.c")], check=True)
    return out


def _note(payload: bytes, owner: bytes = b"NVIDIA Corporation") -> bytes:
    name = owner + b"\0"

    def pad(b: bytes) -> bytes:
        return b + b"\0" * (-len(b) % 4)

    return struct.pack("<III", len(name), len(payload), 1) + pad(name) + pad(payload)


def make_lib(base: Path, path: Path, payload: bytes | dict | None = None,
             owner: bytes = b"NVIDIA Corporation") -> Path:
    """A real shared object at ``path``, with the NVIDIA note when ``payload`` is given."""
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(base, path)
    if payload is None:
        return path
    raw = json.dumps(payload).encode() if isinstance(payload, dict) else payload
    note = path.with_name(path.name + ".note")
    note.write_bytes(_note(raw, owner))
    subprocess.run(["objcopy", "--add-section", f"{NOTE_SECTION}={note}", str(path)], check=True)
    subprocess.run(["objcopy", "--set-section-alignment", f"{NOTE_SECTION}=4", str(path)],
                   check=True)
    note.unlink()
    return path


# --------------------------------------------------------------------------- §E1

E1 = [
    ("empty root", [], {}, "222.55.66", ""),
    ("compat lib is newer; no ldcache", ["/usr/local/cuda/compat/libcuda.so.333.88.99"], {},
     "222.55.66", "/usr/local/cuda/compat"),
    ("compat lib is newer; ldcache",
     ["/etc/ld.so.cache", "/usr/local/cuda/compat/libcuda.so.333.88.99"], {}, "222.55.66",
     "/usr/local/cuda/compat"),
    ("compat lib is older; ldcache",
     ["/etc/ld.so.cache", "/usr/local/cuda/compat/libcuda.so.111.88.99"], {}, "222.55.66", ""),
    ("compat lib has same major version; ldcache",
     ["/etc/ld.so.cache", "/usr/local/cuda/compat/libcuda.so.222.88.99"], {}, "222.55.66", ""),
    ("numeric comparison is used; ldcache",
     ["/etc/ld.so.cache", "/usr/local/cuda/compat/libcuda.so.222.88.99"], {}, "99.55.66",
     "/usr/local/cuda/compat"),
    ("driver version empty; ldcache",
     ["/etc/ld.so.cache", "/usr/local/cuda/compat/libcuda.so.222.88.99"], {}, "", ""),
    ("symlinks are followed",
     ["/etc/ld.so.cache", "/etc/alternatives/cuda/compat/libcuda.so.333.88.99"],
     {"/usr/local/cuda": "/etc/alternatives/cuda"}, "222.55.66",
     "/etc/alternatives/cuda/compat"),
    ("symlinks stay in container", ["/etc/ld.so.cache", "/compat/libcuda.so.333.88.99"],
     {"/usr/local/cuda": "../../../../../../"}, "222.55.66", "/compat"),
]


def _populate(root: Path, base: Path, files: list[str], links: dict[str, str]) -> None:
    for f in files:
        target = root / f.lstrip("/")
        if "libcuda.so." in target.name:
            make_lib(base, target)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(b"")
    for link, to in links.items():
        p = root / link.lstrip("/")
        p.parent.mkdir(parents=True, exist_ok=True)
        p.symlink_to(to)


@pytest.mark.parametrize(("files", "links", "host_driver", "expected"),
                         [r[1:] for r in E1], ids=[r[0] for r in E1])
def test_compat_libs(tmp_path: Path, base_so: Path, files: list[str], links: dict[str, str],
                     host_driver: str, expected: str) -> None:
    _populate(tmp_path, base_so, files, links)
    assert compat_dir(str(tmp_path), host_driver=host_driver) == expected


def test_compat_libs_specified_compat_path_is_used(tmp_path: Path, base_so: Path) -> None:
    """E1 'specified compat path is used'."""
    _populate(tmp_path, base_so, ["/usr/local/cuda/compat/libcuda.so.111.88.99",
                                  "/usr/local/cuda/compat-other/libcuda.so.333.88.99"], {})
    assert compat_dir(str(tmp_path), host_driver="222.55.66",
                      compat_root="/usr/local/cuda/compat-other") == "/usr/local/cuda/compat-other"


def test_compat_lib_that_is_no_elf_is_judged_by_name(tmp_path: Path) -> None:
    lib = tmp_path / "usr/local/cuda/compat/libcuda.so.333.88.99"
    lib.parent.mkdir(parents=True)
    lib.write_bytes(b"not an elf")
    (found,) = find_compat_libs(str(tmp_path))
    assert found.header is None and found.problem and "ELF" in found.problem
    assert compat_dir(str(tmp_path), host_driver="222.55.66") == "/usr/local/cuda/compat"


def test_symlink_loop_is_an_error_not_a_hang(tmp_path: Path) -> None:
    (tmp_path / "a").symlink_to("b")
    (tmp_path / "b").symlink_to("a")
    with pytest.raises(ValueError, match="symbolic links"):
        resolve_in_root(str(tmp_path), "/a/compat")


def test_absolute_link_restarts_at_the_container_root(tmp_path: Path) -> None:
    (tmp_path / "opt/cuda-12.9").mkdir(parents=True)
    (tmp_path / "usr/local").mkdir(parents=True)
    (tmp_path / "usr/local/cuda").symlink_to("/opt/cuda-12.9")
    assert resolve_in_root(str(tmp_path), "/usr/local/cuda/compat") == "/opt/cuda-12.9/compat"
    assert resolve_in_root(str(tmp_path), "/../../etc") == "/etc"


# --------------------------------------------------------------------------- §E2

E2 = [
    ("575.57.08/libcuda.so.575.57.08", PAYLOAD_575, HEADER_575),
    ("590.44.01/libcuda.so.590.44.01", PAYLOAD_590,
     CompatHeader(1, "13.1", (535, 550, 570, 575, 580, 590), tuple(DEVICES))),
    ("libcuda.invalid.json.so.99.88", b'{"format":1,"CUDA version":"13.2",}',
     "could not unmarshal JSON data"),
    ("libcuda.orin.13.2.1.so.1.1", {"format": 1, "CUDA version": "13.2"},
     CompatHeader(1, "13.2")),
]


@pytest.mark.parametrize(("name", "payload", "expected"), E2, ids=[r[0] for r in E2])
def test_cuda_compat_elf_header(tmp_path: Path, base_so: Path, name: str,
                                payload: bytes | dict, expected: CompatHeader | str) -> None:
    lib = make_lib(base_so, tmp_path / "compat" / name, payload)
    if isinstance(expected, str):
        with pytest.raises(CompatNoteError, match=expected):
            read_compat_header(str(lib))
        return
    assert read_compat_header(str(lib)) == expected


def test_header_absent(tmp_path: Path, base_so: Path) -> None:
    assert read_compat_header(str(make_lib(base_so, tmp_path / "plain.so"))) is None
    assert read_compat_header(str(tmp_path / "missing.so")) is None
    other = make_lib(base_so, tmp_path / "other.so", PAYLOAD_575, owner=b"Someone Else")
    assert read_compat_header(str(other)) is None


def test_header_keys_are_matched_case_insensitively_and_types_checked() -> None:
    note = _note(b'{"FORMAT":1,"cuda VERSION":"12.9","driver":[575]}')
    assert parse_note(note, "<", 4) == CompatHeader(1, "12.9", (575,))
    with pytest.raises(CompatNoteError, match="could not unmarshal JSON data"):
        parse_note(_note(b'{"format":"1"}'), "<", 4)
    with pytest.raises(CompatNoteError):
        parse_note(_note(b"[1]"), "<", 4)


def test_big_endian_note() -> None:
    name, payload = b"NVIDIA Corporation\0", b'{"format":1,"CUDA Version":"13.0"}'
    note = struct.pack(">III", len(name), len(payload), 1) + name + b"\0" + payload
    assert parse_note(note, ">", 4) == CompatHeader(1, "13.0")


def test_truncated_or_foreign_files(tmp_path: Path, base_so: Path) -> None:
    (tmp_path / "text").write_text("hello")
    with pytest.raises(ElfError):
        read_compat_header(str(tmp_path / "text"))
    lib = tmp_path / "cut.so"
    lib.write_bytes(base_so.read_bytes()[:200])
    with pytest.raises(ElfError):
        read_compat_header(str(lib))
    with pytest.raises(ElfError):
        parse_note(b"\0\0\0", "<", 4)


# --------------------------------------------------------------------------- §E3

E3 = [
    ("container cuda version greater than host cuda version", "", "", "12.8", True),
    ("container cuda version same as host cuda version", "", "", "12.9", False),
    ("container cuda version less than host cuda version", "", "", "12.10", False),
    ("host driver branch not supported in compat elf header", "575.57.08", "590.44.01", "",
     False),
    ("host driver branch supported in compat elf header, host driver branch < compat driver "
     "branch", "575.57.08", "570.211.01", "", True),
    ("host driver branch same as compat driver branch, compat driver > host driver",
     "575.57.08", "575.10.10", "", True),
    ("host driver branch same as compat driver branch, compat driver = host driver",
     "575.57.08", "575.57.08", "", False),
    ("host driver branch same as compat driver branch, compat driver < host driver",
     "575.57.08", "575.99.99", "", False),
]


@pytest.mark.parametrize(("compat_driver", "host_driver", "host_cuda", "expected"),
                         [r[1:] for r in E3], ids=[r[0] for r in E3])
def test_use_compat(compat_driver: str, host_driver: str, host_cuda: str, expected: bool) -> None:
    assert use_compat(HEADER_575, compat_driver=compat_driver, host_driver=host_driver,
                      host_cuda=host_cuda) is expected


@pytest.mark.parametrize(("compat_driver", "host_driver", "host_cuda", "expected"),
                         [r[1:] for r in E3], ids=[r[0] for r in E3])
def test_compat_libs_with_elf_header(tmp_path: Path, base_so: Path, compat_driver: str,
                                     host_driver: str, host_cuda: str, expected: bool) -> None:
    make_lib(base_so, tmp_path / "compat/575.57.08/libcuda.so.575.57.08", PAYLOAD_575)
    got = compat_dir(str(tmp_path), host_driver=host_driver, host_cuda=host_cuda,
                     compat_root="/compat/575.57.08")
    assert got == ("/compat/575.57.08" if expected else "")


def test_without_note_a_cuda_version_alone_never_decides() -> None:
    assert not use_compat(None, compat_driver="575.57.08", host_driver="535.1.1",
                          host_cuda="12.2")
    assert use_compat(None, compat_driver="575.57.08", host_driver="535.1.1")
    assert not use_compat(None, compat_driver="x.1", host_driver="535.1.1")


# --------------------------------------------------------------------------- ldconfig


@pytest.mark.parametrize(
    ("folders", "expected"),
    [(["/usr/local/cuda/compat"], "/usr/local/cuda/compat\n"), ([], None),
     (["/a", "/b", "/a"], "/a\n/b\n")],
    ids=["one folder", "no folders, no file", "repeats written once"],
)
def test_update_ldconfig(tmp_path: Path, folders: list[str], expected: str | None) -> None:
    assert ldconfig_conf(folders) == expected
    written = write_ldconfig_conf(str(tmp_path), folders)
    if expected is None:
        assert written is None and not (tmp_path / "etc").exists()
        return
    assert written is not None
    p = Path(written)
    assert p.parent == tmp_path / "etc/ld.so.conf.d"
    assert p.name.startswith("00-compat-") and p.name.endswith(".conf")
    assert p.read_text() == expected
    assert stat.S_IMODE(os.stat(p).st_mode) == 0o644
