"""stack.paths: user-controlled values never make a path outside its root, nor a deletion msproc did not
create."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from stack.paths import (
    MARKER_FILE,
    UnsafePath,
    check_under,
    mark_created,
    remove_tree,
    safe_collection,
    safe_component,
    safe_join,
)

ESCAPING_NAMES = [
    "..", ".", "../x", "../../../some/dir", "/etc", "/tmp/elsewhere", "a/../../b", "a\\..\\b", "x\x00y",
    "", "~root", "-rf", " padded ", "tab\there", "new\nline", "a/b",
]


@pytest.mark.parametrize("name", ESCAPING_NAMES)
def test_it_refuses_names_that_are_not_one_path_component(name):
    with pytest.raises(UnsafePath) as caught:
        safe_component(name, "name")
    assert caught.value.field == "name"


@pytest.mark.parametrize("name", ["dp2-2x4", "w_2026_10", "DRP v1.2", "%2e%2e", "..hidden-but-fine", "a.b"])
def test_it_keeps_ordinary_names_and_url_encoded_text_literal(name, tmp_path):
    # "%2e%2e" is not decoded: it is a file called "%2e%2e" inside the root.
    assert safe_join(tmp_path, name) == (tmp_path / name).resolve()


def test_it_refuses_a_name_longer_than_a_file_name_can_be():
    with pytest.raises(UnsafePath):
        safe_component("é" * 200)


@pytest.mark.parametrize("name", ESCAPING_NAMES)
def test_safe_join_never_leaves_its_root(name, tmp_path):
    with pytest.raises(UnsafePath):
        safe_join(tmp_path / "tape", name)


def test_safe_join_refuses_a_symlink_planted_inside_the_root(tmp_path):
    root, outside = tmp_path / "tape", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (root / "campaign").symlink_to(outside)
    with pytest.raises(UnsafePath, match="not under"):
        safe_join(root, "campaign")


def test_safe_join_follows_a_symlinked_root_itself(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)
    assert safe_join(tmp_path / "link", "c1") == real / "c1"


@pytest.mark.parametrize("path", ["", "relative/dir", "."])
def test_check_under_refuses_relative_paths(path, tmp_path):
    with pytest.raises(UnsafePath, match="absolute"):
        check_under(path, tmp_path)


def test_check_under_sees_through_dotdot(tmp_path):
    with pytest.raises(UnsafePath):
        check_under(tmp_path / "a" / ".." / ".." / "b", tmp_path)
    assert check_under(tmp_path / "a" / ".." / "b", tmp_path) == tmp_path.resolve() / "b"
    with pytest.raises(UnsafePath, match="root"):
        check_under(tmp_path, tmp_path, strict=True)


@pytest.mark.parametrize("prefix", ["u/msproc/2x4", "u/someone/w_2026_10", "HSC/runs/RC2"])
def test_it_accepts_relative_collection_names(prefix):
    assert safe_collection(prefix) == prefix


@pytest.mark.parametrize("prefix", ["../../x", "u/msproc/../../..", "/abs/run", "u//x", "u/msproc/", "u/./x",
                                    "u\\..\\x", "u/ms\x00proc", ""])
def test_it_refuses_collection_names_that_would_leave_a_datastore(prefix):
    with pytest.raises(UnsafePath) as caught:
        safe_collection(prefix, "output_prefix")
    assert str(caught.value).startswith("output_prefix:")


def test_it_deletes_only_directories_it_marked(tmp_path):
    root = tmp_path / "sites"
    ours = mark_created(root / "SLAC" / "dp2")
    (ours / "data").mkdir()
    assert (ours / MARKER_FILE).is_file()
    assert remove_tree(ours, root) is True
    assert not ours.exists()
    assert remove_tree(ours, root) is False  # already gone


def test_it_refuses_to_delete_a_directory_without_its_marker(tmp_path):
    theirs = tmp_path / "sites" / "SLAC" / "dp2"
    theirs.mkdir(parents=True)
    (theirs / "precious").write_text("x")
    with pytest.raises(UnsafePath, match="not created by msproc"):
        remove_tree(theirs, tmp_path / "sites")
    assert (theirs / "precious").exists()


def test_it_refuses_to_delete_outside_its_root_even_when_marked(tmp_path):
    elsewhere = mark_created(tmp_path / "elsewhere")
    (tmp_path / "sites").mkdir()
    for path in (elsewhere, tmp_path / "sites" / ".." / "elsewhere", tmp_path / "sites"):
        with pytest.raises(UnsafePath):
            remove_tree(path, tmp_path / "sites")
    assert elsewhere.exists()


def test_it_refuses_to_delete_through_a_symlink(tmp_path):
    target = mark_created(tmp_path / "sites" / "real")
    (tmp_path / "sites" / "link").symlink_to(target)
    with pytest.raises(UnsafePath, match="symbolic link"):
        remove_tree(tmp_path / "sites" / "link", tmp_path / "sites")
    outside = mark_created(tmp_path / "outside")
    (tmp_path / "sites" / "escape").symlink_to(outside)
    with pytest.raises(UnsafePath):
        remove_tree(tmp_path / "sites" / "escape", tmp_path / "sites")
    assert target.exists() and outside.exists()


def test_a_marker_that_is_a_symlink_does_not_count(tmp_path):
    directory = tmp_path / "sites" / "x"
    directory.mkdir(parents=True)
    real_marker = tmp_path / "marker"
    real_marker.write_text("")
    os.symlink(real_marker, directory / MARKER_FILE)
    with pytest.raises(UnsafePath, match="not created by msproc"):
        remove_tree(directory, tmp_path / "sites")
    assert Path(directory).exists()
