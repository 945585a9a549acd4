"""Butler data queries from user text: parsed with daf_butler's own expression parser, combined safely.

A user's query fragment (a split's ``query``) is checked by :func:`query_error`
before it is planned: it must parse as one whole Butler expression (so
``band='g') OR (band='r'`` is refused rather than pasted), use no bind
names, and hold only characters that cannot leave the quoting a command
line puts around a data query: BPS passes it as ``-d "{dataQuery}"`` and
splits the command with ``shlex``, and expands ``{name}`` and ``${VAR}`` in
it, so ``"``, ``\\``, ``{``, ``}``, ``$``, backquotes, newlines and other
control characters are refused. :func:`literal` quotes a value the way the
grammar expects (its string literals are ``'...'`` with no escape, so a
value holding ``'`` cannot be quoted and is refused by :func:`value_error`).
:func:`conjoin` ANDs fragments, each in parentheses: a fragment that parses
alone is one operand, whatever operators it holds.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = [
    "MAX_QUERY_LENGTH",
    "QueryError",
    "conjoin",
    "identifier_error",
    "literal",
    "parse_query",
    "query_error",
    "value_error",
]

#: Longest user query fragment accepted (characters).
MAX_QUERY_LENGTH = 4000
#: What a query may hold: the grammar's operators, identifiers, numbers and single-quoted literals.
_QUERY_CHARACTERS = re.compile(r"[A-Za-z0-9_ .,'()=!<>+\-*/%:]*")
#: What a quoted value may hold: no quote, and nothing a command line or BPS would act on.
_VALUE_CHARACTERS = re.compile(r"[A-Za-z0-9_ .,()=!<>+\-*/%:]*")
#: A Butler dimension name, optionally qualified (``band``, ``visit.day_obs``).
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*){0,2}")


class QueryError(ValueError):
    """A query fragment is not a safe, whole Butler expression; the message says why."""


def parse_query(text: str):
    """Return the expression tree of ``text`` (daf_butler's ``parse_expression``).

    Raises:
        QueryError: ``text`` is empty, too long, holds a character that is not
            allowed, does not parse as one expression, or uses a bind name.
    """
    from lsst.daf.butler.queries.expressions.parser import ParserYaccError, parse_expression
    from lsst.daf.butler.queries.expressions.parser.exprTree import BindName

    if len(text) > MAX_QUERY_LENGTH:
        raise QueryError(f"must be at most {MAX_QUERY_LENGTH} characters, got {len(text)}")
    bad = _bad_characters(text, _QUERY_CHARACTERS)
    if bad:
        raise QueryError(f"must not contain {bad} (only the Butler grammar's operators, names, numbers and "
                         "'single-quoted' strings)")
    try:
        tree = parse_expression(text)
    except ParserYaccError as exc:
        raise QueryError(f"not a Butler expression: {exc}") from None
    except RecursionError:
        raise QueryError("not a Butler expression: nested too deeply") from None
    if tree is None:
        raise QueryError("must not be empty")
    for node in _nodes(tree):
        if isinstance(node, BindName):
            raise QueryError(f"bind names (:{node.name}) are not supported; write the value")
    return tree


def query_error(text: str) -> str | None:
    """Return why ``text`` is not an acceptable query fragment, or None when it is (see :func:`parse_query`)."""
    try:
        parse_query(text)
    except QueryError as exc:
        return str(exc)
    return None


def value_error(value: str | int) -> str | None:
    """Return why ``value`` cannot be a literal in a query, or None when :func:`literal` can quote it."""
    if isinstance(value, int):
        return None
    if not value:
        return "must not be empty"
    if len(value) > 256:
        return f"must be at most 256 characters, got {len(value)}"
    if "'" in value:
        return "must not contain ' (Butler string literals have no escape for it)"
    bad = _bad_characters(value, _VALUE_CHARACTERS)
    return f"must not contain {bad}" if bad else None


def identifier_error(name: str) -> str | None:
    """Return why ``name`` is not a dimension name usable in a query (``band``, ``visit.day_obs``), or None."""
    if not _IDENTIFIER.fullmatch(name) or len(name) > 64:
        return f"must be a dimension name (letters, digits, _ and up to two dots), got {name!r}"
    return None


def literal(value: str | int) -> str:
    """Return ``value`` as a Butler literal: an int as digits, a string in single quotes.

    Raises:
        QueryError: ``value`` cannot be quoted (see :func:`value_error`).
    """
    if isinstance(value, bool):
        raise QueryError("a boolean is not a data ID value")
    if isinstance(value, int):
        return str(value)
    problem = value_error(value)
    if problem:
        raise QueryError(f"{value!r}: {problem}")
    return f"'{value}'"


def conjoin(parts: Iterable[str]) -> str:
    """Return the AND of query ``parts`` (empty ones skipped); a part with an operator goes in parentheses.

    Each part must be a whole expression (planner-built, or checked by :func:`query_error`), so that
    in parentheses it is one operand.
    """
    texts = [part.strip() for part in parts if part and part.strip()]
    if len(texts) == 1:
        return texts[0]
    return " AND ".join(text if _is_conjunction_of_atoms(text) else f"({text})" for text in texts)


_ATOM = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*\s*(=\s*('[^']*'|\d+)|\s+IN\s+\([0-9, ]*\))")


def _is_conjunction_of_atoms(text: str) -> bool:
    """True for the planner's own restrictions (``instrument='MockCam' AND visit IN (1, 2)``): comparisons of a
    name with one literal, joined by AND, which need no parentheses."""
    return all(_ATOM.fullmatch(part) for part in text.split(" AND "))


def _bad_characters(text: str, allowed: re.Pattern) -> str:
    bad = sorted({char for char in text if not allowed.fullmatch(char)})
    return ", ".join(repr(char) for char in bad[:5])


def _nodes(tree) -> Iterable:
    """Yield every node of an expression tree (iteratively: a deep tree must not exhaust the stack)."""
    from lsst.daf.butler.queries.expressions.parser import Node

    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        for value in vars(node).values():
            if isinstance(value, Node):
                stack.append(value)
            elif isinstance(value, (list, tuple)):
                stack.extend(item for item in value if isinstance(item, Node))
