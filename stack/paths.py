"""Filesystem paths from user-controlled values, and deletion only inside roots msproc created.

Every directory or file msproc writes or deletes whose path holds a value a
user chose (a campaign name, a workflow name, an output collection, a Butler
repository's root) goes through this module:

- ``safe_component`` accepts one path component (a campaign or workflow name):
  not empty, not ``.`` or ``..``, no ``/`` or ``\\``, no NUL or other
  control character, no leading ``-`` or ``~``, at most 255 bytes.
- ``safe_join(root, *components)`` joins checked components under ``root``
  and returns the *resolved* path (symlinks followed), raising `UnsafePath`
  unless it still lies under the resolved root — so a symlink planted inside
  the root cannot carry a write outside it.
- ``check_under(path, root)`` is the same check for a path built elsewhere
  (a Butler root read from the database).
- ``safe_collection`` accepts a Butler collection name (``u/msproc/x/step1``):
  ``/``-separated checked components, nothing absolute. The Butler's file
  datastore lays files out by RUN name, so a ``..`` there would write outside
  the repository before the Butler refuses the name.
- ``mark_created(directory)`` writes a marker file when msproc creates a
  directory it may later delete; ``remove_tree(path, root)`` deletes only a
  directory under ``root`` that holds that marker (and is not ``root``
  itself), raising `UnsafePath` otherwise.

Nothing here touches the ORM or settings: callers pass the configured roots.
"""

from __future__ import annotations

import os
import re
import shutil
import unicodedata
from pathlib import Path

__all__ = [
    "MARKER_FILE",
    "UnsafePath",
    "check_under",
    "is_marked",
    "mark_created",
    "remove_tree",
    "safe_collection",
    "safe_component",
    "safe_join",
]

MARKER_FILE = ".msproc-created"
_MAX_COMPONENT_BYTES = 255
_MAX_COLLECTION_LENGTH = 1024
_BAD_START = ("-", "~")
_SEPARATORS = re.compile(r"[/\\]")


class UnsafePath(ValueError):
    """A value cannot be used as (part of) a path: it is malformed or the path would leave its root.

    ``field`` names what the value was (``name``, ``output_prefix``, ``root_uri``...).
    """

    permanent = True

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def safe_component(value: object, field: str = "name") -> str:
    """Return ``value`` if it can be one path component; raise `UnsafePath` naming ``field`` otherwise."""
    if not isinstance(value, str) or value == "":
        raise UnsafePath(field, "must be a non-empty string")
    if value in {".", ".."}:
        raise UnsafePath(field, f"{value!r} is not allowed in a path")
    if _SEPARATORS.search(value):
        raise UnsafePath(field, f"must not contain '/' or '\\', got {value!r}")
    if any(unicodedata.category(char).startswith("C") for char in value):
        raise UnsafePath(field, f"must not contain control characters, got {value!r}")
    if value.startswith(_BAD_START) or value != value.strip():
        raise UnsafePath(field, f"must not start with '-' or '~' or with or end in spaces, got {value!r}")
    if len(value.encode()) > _MAX_COMPONENT_BYTES:
        raise UnsafePath(field, f"must be at most {_MAX_COMPONENT_BYTES} bytes long")
    return value


def safe_collection(value: object, field: str = "output_prefix") -> str:
    """Return ``value`` if it is a safe Butler collection name (relative ``a/b/c``); raise `UnsafePath`."""
    if not isinstance(value, str) or value == "":
        raise UnsafePath(field, "must be a non-empty string")
    if len(value) > _MAX_COLLECTION_LENGTH:
        raise UnsafePath(field, f"must be at most {_MAX_COLLECTION_LENGTH} characters long")
    if value.startswith("/"):
        raise UnsafePath(field, f"must be relative (no leading '/'), got {value!r}")
    for part in value.split("/"):
        try:
            safe_component(part, field)
        except UnsafePath as exc:
            raise UnsafePath(field, f"component {part!r} of {value!r}: {exc.message}") from None
    return value


def _resolved(path: str | os.PathLike[str]) -> Path:
    if "\x00" in os.fspath(path):
        raise UnsafePath("path", "must not contain NUL")
    return Path(path).expanduser().resolve()


def check_under(path: str | os.PathLike[str], root: str | os.PathLike[str], field: str = "path", *,
                strict: bool = False) -> Path:
    """Return the resolved ``path`` if it lies under the resolved ``root`` (or is it, unless ``strict``).

    Raises `UnsafePath` otherwise, and for an empty or relative ``path`` (it would be resolved against the
    working directory). Symlinks are followed on both sides, so a link inside ``root`` pointing elsewhere
    is refused.
    """
    if not os.fspath(path) or not Path(os.fspath(path)).expanduser().is_absolute():
        raise UnsafePath(field, f"must be an absolute path, got {os.fspath(path)!r}")
    resolved_root = _resolved(root)
    resolved = _resolved(path)
    if resolved != resolved_root and not resolved.is_relative_to(resolved_root):
        raise UnsafePath(field, f"{os.fspath(path)!r} is not under {os.fspath(resolved_root)!r}")
    if strict and resolved == resolved_root:
        raise UnsafePath(field, f"{os.fspath(path)!r} is the root {os.fspath(resolved_root)!r} itself")
    return resolved


def safe_join(root: str | os.PathLike[str], *components: str, field: str = "name") -> Path:
    """Return ``root/c1/c2...`` resolved, each component checked by `safe_component`; raise `UnsafePath`.

    The result is checked to lie strictly under ``root`` after symlinks are resolved.
    """
    if not components:
        raise UnsafePath(field, "no path component given")
    for component in components:
        safe_component(component, field)
    return check_under(Path(root).joinpath(*components), root, field, strict=True)


def mark_created(directory: str | os.PathLike[str]) -> Path:
    """Create ``directory`` (and parents) and write msproc's marker file in it; return the directory."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    marker = directory / MARKER_FILE
    if not marker.exists():
        marker.write_text("created by msproc; msproc may delete this directory\n")
    return directory


def is_marked(directory: str | os.PathLike[str]) -> bool:
    """True if ``directory`` holds msproc's marker file (a real file, not a symlink)."""
    marker = Path(directory) / MARKER_FILE
    return marker.is_file() and not marker.is_symlink()


def remove_tree(path: str | os.PathLike[str], root: str | os.PathLike[str], field: str = "path") -> bool:
    """Delete the directory ``path`` if msproc created it under ``root``; return False if it did not exist.

    Raises `UnsafePath` if ``path`` is ``root`` itself or not under it (symlinks resolved), is a symlink,
    or lacks the marker file ``mark_created`` writes (msproc never deletes what it did not create).
    """
    if Path(path).is_symlink():
        raise UnsafePath(field, f"{os.fspath(path)!r} is a symbolic link; msproc deletes only its own directories")
    resolved = check_under(path, root, field, strict=True)
    if not resolved.exists():
        return False
    if not resolved.is_dir() or not is_marked(resolved):
        raise UnsafePath(field, f"{os.fspath(path)!r} was not created by msproc (no {MARKER_FILE}); "
                                "remove it by hand if it should go")
    shutil.rmtree(resolved)
    return True
