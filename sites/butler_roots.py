"""Where a Butler repository's root may point (``ButlerRepo.root_uri``).

A site admin sets a repository's root in the API or the admin; the workers
then read, write and (for embedded repositories) delete there. So a root is
accepted only if it is

- a local path (absolute, or a ``file://`` URI) that lies, symlinks resolved,
  under ``MSPROC_SITES_DIR`` or one of ``MSPROC_BUTLER_ROOTS``; or
- a URI starting with one of ``MSPROC_BUTLER_URI_PREFIXES`` (e.g.
  ``s3://rubin-dp2/``), with no ``..`` segment even once percent-decoded.

msproc deletes a repository directory only under ``MSPROC_SITES_DIR`` and only
if it holds the marker file msproc wrote when it created it
(``stack.paths``), whatever the root says.
"""

from __future__ import annotations

import unicodedata
from pathlib import Path
from urllib.parse import unquote, urlparse

from django.conf import settings
from django.core.exceptions import ValidationError

from stack.paths import UnsafePath, check_under

__all__ = ["allowed_local_roots", "file_path", "validate_root_uri"]


def allowed_local_roots() -> list[Path]:
    """Return the directories a local Butler root may lie under (sites dir first)."""
    return [Path(settings.MSPROC_SITES_DIR), *(Path(root) for root in settings.MSPROC_BUTLER_ROOTS)]


def _has_dotdot(path: str) -> bool:
    return any(part == ".." for part in path.replace("\\", "/").split("/"))


def file_path(root_uri: str) -> Path:
    """Return the local path of a root given as an absolute path or a ``file://`` URI.

    Raises `UnsafePath` for another scheme, a relative path, or a ``..`` segment (also percent-encoded).
    """
    parsed = urlparse(root_uri)
    if parsed.scheme == "file":
        if parsed.netloc not in {"", "localhost"}:
            raise UnsafePath("root_uri", f"a file URI must not name a host, got {root_uri!r}")
        path = unquote(parsed.path)
    elif parsed.scheme == "":
        path = root_uri
    else:
        raise UnsafePath("root_uri", f"{root_uri!r} is not a local path")
    if not path.startswith("/"):
        raise UnsafePath("root_uri", f"must be an absolute path, got {root_uri!r}")
    if _has_dotdot(path) or _has_dotdot(unquote(path)):
        raise UnsafePath("root_uri", f"must not contain '..', got {root_uri!r}")
    return Path(path)


def validate_root_uri(value: str) -> None:
    """Django validator of ``ButlerRepo.root_uri``; raises ValidationError saying where roots may be."""
    if any(unicodedata.category(char).startswith("C") for char in value):
        raise ValidationError("must not contain control characters")
    scheme = urlparse(value).scheme
    if scheme in {"", "file"}:
        try:
            path = file_path(value)
        except UnsafePath as exc:
            raise ValidationError(exc.message) from None
        roots = allowed_local_roots()
        for root in roots:
            try:
                check_under(path, root, field="root_uri")
                return
            except UnsafePath:
                continue
        raise ValidationError(
            f"{value!r} is not under an allowed Butler root ({', '.join(str(r) for r in roots)}; "
            "MSPROC_SITES_DIR, MSPROC_BUTLER_ROOTS)")
    prefixes = list(settings.MSPROC_BUTLER_URI_PREFIXES)
    if not any(value.startswith(prefix) for prefix in prefixes):
        raise ValidationError(f"{value!r} does not start with an allowed URI prefix "
                              f"({', '.join(prefixes) or 'none configured'}; MSPROC_BUTLER_URI_PREFIXES)")
    if _has_dotdot(urlparse(value).path) or _has_dotdot(unquote(urlparse(value).path)):
        raise ValidationError(f"must not contain '..', got {value!r}")


def overlaps(first: str, second: str) -> bool:
    """Return whether two roots are one directory or one lies inside the other (paths or URIs, as given).

    Local roots compare as paths (``file://`` or absolute, after ``..``-free normalisation); other URIs
    compare as text on ``/`` boundaries.
    """
    def parts(root: str) -> tuple[str, ...]:
        try:
            return Path(file_path(root)).parts
        except UnsafePath:
            return tuple(part for part in root.rstrip("/").split("/"))

    a, b = parts(first), parts(second)
    shorter = min(len(a), len(b))
    return a[:shorter] == b[:shorter]


def validate_registry_url(value: str) -> None:
    """Django validator of ``ButlerRepo.registry_url``: blank (SQLite in the root) or a PostgreSQL URL.

    daf_butler's registries are SQLite or PostgreSQL; anything else (a file path, ``javascript:``) is refused.
    """
    if not value:
        return
    if any(unicodedata.category(char).startswith("C") for char in value):
        raise ValidationError("must not contain control characters")
    scheme = urlparse(value).scheme
    if scheme.split("+")[0] not in {"postgresql", "postgres"} or not urlparse(value).netloc:
        raise ValidationError(f"must be a PostgreSQL URL (postgresql://host/database) or blank, got {value!r}")

