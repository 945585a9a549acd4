"""The permission table: for each model and operation, the role that may do it. UI, API and admin ask it.

A row is ``(model label, operation) -> role predicate`` (``core.roles``). Operations are ``view``, ``add``,
``change`` and ``delete``, each operator verb (``core.actions.register`` adds a row per verb with the role it
names) and a few operations of their own (``plan``, ``reassign``, ``schedule``, ``rinse``). core knows no app:
each app grants its rows in ``AppConfig.ready()`` (``grant``), as it registers its operator actions.

Who asks: the API's permission class (``core.api.permissions``), the UI's views (``core.htmx``: each names
the row it needs; templates read ``may``) and the admin (``core.admin_actions.TableAdmin``: add, change,
delete and view rights, and which actions it lists). An interface may offer fewer operations than the table
holds (the admin adds no campaign: the planner makes them); where it offers one, it gives the table's
answer. A row nobody may use is ``roles.nobody``; an operation without a row is refused (``allows``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from core import roles

RolePredicate = Callable[[Any], bool]

VIEW, ADD, CHANGE, DELETE = "view", "add", "change", "delete"
CRUD = (VIEW, ADD, CHANGE, DELETE)


@dataclass(frozen=True)
class Row:
    """One row of the table: ``role(user)`` says whether ``user`` may do ``operation`` on ``label``'s objects."""

    label: str
    operation: str
    role: RolePredicate

    @property
    def role_name(self) -> str:
        return roles.role_name(self.role)


_TABLE: dict[tuple[str, str], RolePredicate] = {}


def label_of(model_or_label: Any) -> str:
    """Return ``app_label.model_name`` of a model, an instance or a label."""
    return model_or_label if isinstance(model_or_label, str) else model_or_label._meta.label_lower


def grant(model: Any, *, view: RolePredicate, add: RolePredicate, change: RolePredicate, delete: RolePredicate,
          **operations: RolePredicate) -> None:
    """Grant the rows of ``model``: the four CRUD operations (each must be named, ``roles.nobody`` for none)
    and any operation of its own (``plan=roles.can_operate``). Raises ValueError for a row granted twice
    with another role (two apps disagreeing)."""
    for operation, role in {VIEW: view, ADD: add, CHANGE: change, DELETE: delete, **operations}.items():
        grant_one(model, operation, role)


def grant_one(model: Any, operation: str, role: RolePredicate) -> None:
    """Grant one row. Raises ValueError when the row exists with another role."""
    key = (label_of(model), operation)
    if _TABLE.get(key, role) is not role:
        raise ValueError(f"{key[0]} {operation}: granted to {roles.role_name(_TABLE[key])} already")
    _TABLE[key] = role


def role_for(model: Any, operation: str) -> RolePredicate:
    """Return the role predicate of a row (``roles.nobody`` when the table has no such row)."""
    return _TABLE.get((label_of(model), operation), roles.nobody)


def allows(user: Any, model: Any, operation: str) -> bool:
    """True when the table lets ``user`` do ``operation`` on objects of ``model`` (a model, object or label)."""
    return role_for(model, operation)(user)


def rows() -> Iterator[Row]:
    """Every row, sorted by label and operation."""
    for (label, operation), role in sorted(_TABLE.items()):
        yield Row(label, operation, role)


def has_row(model: Any, operation: str) -> bool:
    return (label_of(model), operation) in _TABLE


class UserPermissions:
    """The table for one user, for templates: ``{% if may.campaigns.campaign.add %}``."""

    def __init__(self, user: Any, path: tuple[str, ...] = ()) -> None:
        self._user, self._path = user, path

    def __getitem__(self, name: str) -> UserPermissions | bool:
        path = (*self._path, name)
        if len(path) < 3:
            return UserPermissions(self._user, path)
        return allows(self._user, f"{path[0]}.{path[1]}", path[2])

    def __bool__(self) -> bool:  # an incomplete lookup in a template is a refusal, never a grant
        return False
