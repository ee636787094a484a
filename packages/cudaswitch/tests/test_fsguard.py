"""The guarded removal and overwrite functions, against planted links and foreign folders."""

from __future__ import annotations

import os
import stat

import pytest

from cudaswitch import fsguard
from cudaswitch.errors import EXIT_USAGE


def test_claim_refuses_a_non_empty_folder_without_the_marker(tmp_path):
    user = tmp_path / "mine"
    user.mkdir()
    (user / "notes.txt").write_text("keep me")
    with pytest.raises(fsguard.RefusedError) as e:
        fsguard.claim(str(user), "--prefix")
    assert e.value.exit_code == EXIT_USAGE
    assert "not empty" in str(e.value) and "--prefix" in str(e.value)
    assert (user / "notes.txt").read_text() == "keep me"
    assert not (user / fsguard.MARKER).exists()


def test_claim_marks_new_and_empty_folders_and_accepts_marked_ones(tmp_path):
    new = tmp_path / "new" / "deeper"
    root = fsguard.claim(str(new))
    assert root.path == os.path.realpath(new) and fsguard.is_marked(str(new))
    empty = tmp_path / "empty"
    empty.mkdir()
    fsguard.claim(str(empty))
    assert fsguard.is_marked(str(empty))
    (empty / "work").write_text("x")
    assert fsguard.claim(str(empty)).path == os.path.realpath(empty)


def test_claim_refuses_symlinks_files_and_system_folders(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)
    (tmp_path / "file").write_text("x")
    for bad in (tmp_path / "link", tmp_path / "file", "/", "/usr", os.path.expanduser("~")):
        with pytest.raises(fsguard.RefusedError):
            fsguard.claim(str(bad))


def test_a_marker_that_is_a_symlink_does_not_count(tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    (d / "f").write_text("x")
    (tmp_path / "m").write_text("")
    (d / fsguard.MARKER).symlink_to(tmp_path / "m")
    assert not fsguard.is_marked(str(d))
    with pytest.raises(fsguard.RefusedError):
        fsguard.claim(str(d))


def test_remove_never_follows_a_planted_symlink(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "precious").write_text("keep")
    home = tmp_path / "home"
    root = fsguard.home_root(str(home))
    tree = home / "store" / "sha256"
    tree.mkdir(parents=True)
    (tree / "zz").symlink_to(elsewhere)
    (tree / "ab").mkdir()
    (tree / "ab" / "f").write_text("x")
    (tree / "ab" / "file-link").symlink_to(elsewhere / "precious")
    assert fsguard.remove(str(home / "store"), root) == 6
    assert not (home / "store").exists()
    assert (elsewhere / "precious").read_text() == "keep"


def test_remove_refuses_paths_that_leave_the_root(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "f").write_text("keep")
    root = fsguard.home_root(str(tmp_path / "home"))
    (tmp_path / "home" / "up").symlink_to(outside)
    for bad in (outside / "f", tmp_path / "home" / ".." / "outside" / "f",
                tmp_path / "home" / "up" / "f", tmp_path / "home"):
        with pytest.raises(fsguard.RefusedError):
            fsguard.remove(str(bad), root)
    assert (outside / "f").read_text() == "keep"
    # A sibling whose name shares the root's prefix is outside too.
    sib = tmp_path / "home-other"
    sib.mkdir()
    (sib / "f").write_text("keep")
    with pytest.raises(fsguard.RefusedError):
        fsguard.remove(str(sib / "f"), root)
    # The link itself lies inside the root and goes; its target stays.
    assert fsguard.remove(str(tmp_path / "home" / "up"), root) == 1
    assert (outside / "f").read_text() == "keep"


def test_remove_needs_a_root_object(tmp_path):
    with pytest.raises(TypeError):
        fsguard.remove(str(tmp_path / "x"), str(tmp_path))  # type: ignore[arg-type]


def test_atomic_write_replaces_whole_files_and_honours_the_umask(tmp_path):
    p = tmp_path / "rec.json"
    p.write_text("old")
    old = os.umask(0o022)
    try:
        fsguard.atomic_write_json(str(p), {"a": 1})
    finally:
        os.umask(old)
    assert p.read_text().strip() == '{\n "a": 1\n}'
    assert stat.S_IMODE(p.stat().st_mode) == 0o644
    assert [n.name for n in tmp_path.iterdir()] == ["rec.json"]


def test_atomic_write_over_a_symlink_replaces_the_link_not_its_target(tmp_path):
    target = tmp_path / "target"
    target.write_text("keep")
    link = tmp_path / "link"
    link.symlink_to(target)
    fsguard.atomic_write(str(link), "new")
    assert target.read_text() == "keep"
    assert not link.is_symlink() and link.read_text() == "new"


def test_atomic_file_failure_leaves_the_old_content_and_no_temp(tmp_path):
    p = tmp_path / "f"
    p.write_bytes(b"old")
    with pytest.raises(RuntimeError), fsguard.atomic_file(str(p)) as f:
        f.write(b"half")
        raise RuntimeError("killed")
    assert p.read_bytes() == b"old"
    assert [n.name for n in tmp_path.iterdir()] == ["f"]


def test_atomic_write_with_a_root_refuses_outside(tmp_path):
    root = fsguard.claim(str(tmp_path / "ctx"))
    with pytest.raises(fsguard.RefusedError):
        fsguard.atomic_write(str(tmp_path / "other"), "x", root=root)
    fsguard.atomic_write(str(tmp_path / "ctx" / "ok"), "x", root=root)
    assert (tmp_path / "ctx" / "ok").read_text() == "x"


def test_ensure_dir_refuses_to_create_through_a_planted_link(tmp_path):
    home = fsguard.home_root(str(tmp_path / "home"))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "home" / "store").symlink_to(elsewhere)
    with pytest.raises(fsguard.RefusedError, match="symbolic link"):
        fsguard.ensure_dir(str(tmp_path / "home" / "store" / "sha256" / "ab"), home)
    assert list(elsewhere.iterdir()) == []
    made = fsguard.ensure_dir(str(tmp_path / "home" / "toolkits" / "x"), home)
    assert os.path.isdir(made) and not os.path.islink(made)
    with pytest.raises(fsguard.RefusedError, match="outside"):
        fsguard.ensure_dir(str(tmp_path / "other"), home)


def test_sub_root_is_a_real_folder_inside_its_root(tmp_path):
    home = fsguard.home_root(str(tmp_path / "home"))
    (tmp_path / "home" / "slot").mkdir()
    (tmp_path / "outside").mkdir()
    (tmp_path / "home" / "link").symlink_to(tmp_path / "outside")
    assert fsguard.sub_root(home, str(tmp_path / "home" / "slot")).path.endswith("slot")
    for bad in (tmp_path / "home" / "link", tmp_path / "outside", tmp_path / "home"):
        with pytest.raises(fsguard.RefusedError):
            fsguard.sub_root(home, str(bad))


def test_discard_removes_only_a_marked_folder_and_not_what_its_links_point_at(tmp_path):
    keep = tmp_path / "keep"
    keep.mkdir()
    (keep / "f").write_text("x")
    unmarked = tmp_path / "unmarked"
    unmarked.mkdir()
    with pytest.raises(fsguard.RefusedError):
        fsguard.discard(fsguard.Root(str(unmarked)))
    built = fsguard.claim(str(tmp_path / "built"))
    (tmp_path / "built" / "link").symlink_to(keep)
    assert fsguard.discard(built) >= 2
    assert not (tmp_path / "built").exists() and (keep / "f").read_text() == "x"


def test_marked_root_accepts_the_markers_given_and_no_link(tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    (d / "cudaswitch-slot.json").write_text("{}")
    with pytest.raises(fsguard.RefusedError):
        fsguard.marked_root(str(d))
    assert fsguard.marked_root(str(d), (fsguard.MARKER, "cudaswitch-slot.json")).path == str(d)
    (tmp_path / "l").symlink_to(d)
    with pytest.raises(fsguard.RefusedError):
        fsguard.marked_root(str(tmp_path / "l"), (fsguard.MARKER, "cudaswitch-slot.json"))
