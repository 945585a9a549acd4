"""Evaluate a step's ``values`` or ``query`` split against the data inventory.

The planner makes a group only from data the group will process, so a split
restriction must be known at plan time as a set of (visit, tract) pairs. A
``query`` split is parsed with daf_butler's own expression parser and
evaluated here, row by row, over what the inventory knows of each pair:
``instrument``, ``skymap``, ``visit``, ``exposure``, ``band`` and ``tract``
(``visit.band``-style qualified names are accepted). A query naming anything
else cannot be evaluated without a Butler and is refused with the field path.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

from .spec import FieldError, SpecError

__all__ = ["INVENTORY_FIELDS", "Predicate", "Row", "compile_split"]

#: What the inventory knows of a (visit, tract) pair.
INVENTORY_FIELDS = ("instrument", "skymap", "visit", "exposure", "band", "tract")

Row = dict[str, Any]
Predicate = Callable[[Row], Any]

_COMPARE = {
    "=": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
}  # fmt: skip
_ARITHMETIC = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv, "%": operator.mod}


class _Unsupported(Exception):
    """The expression uses something the inventory cannot answer."""


def _field(name: str) -> str:
    """Return the inventory field an identifier names (``visit.band`` -> ``band``, ``tract.id`` -> ``tract``)."""
    table, _, column = name.lower().rpartition(".")
    if not table:
        return column
    if column in ("id", "name"):
        return table
    return column


def _compile_tree(text: str) -> Predicate:
    from lsst.daf.butler.queries.expressions.parser import TreeVisitor, parse_expression

    class Compiler(TreeVisitor[Predicate]):
        def visitNumericLiteral(self, value: str, node: Any) -> Predicate:
            number = float(value) if any(c in value for c in ".eE") else int(value)
            return lambda row: number

        def visitStringLiteral(self, value: str, node: Any) -> Predicate:
            return lambda row: value

        def visitIdentifier(self, name: str, node: Any) -> Predicate:
            field = _field(name)
            if field not in INVENTORY_FIELDS:
                raise _Unsupported(f"{name!r} is not known to the inventory (it knows {', '.join(INVENTORY_FIELDS)})")
            return lambda row: row[field]

        def visitRangeLiteral(self, start: int, stop: int, stride: int | None, node: Any) -> Predicate:
            values = range(start, stop + 1, stride or 1)
            return lambda row: values

        def visitUnaryOp(self, operator_: str, operand: Predicate, node: Any) -> Predicate:
            if operator_ == "NOT":
                return lambda row: not operand(row)
            if operator_ == "-":
                return lambda row: -operand(row)
            if operator_ == "+":
                return operand
            raise _Unsupported(f"operator {operator_}")

        def visitBinaryOp(self, operator_: str, lhs: Predicate, rhs: Predicate, node: Any) -> Predicate:
            if operator_ == "AND":
                return lambda row: lhs(row) and rhs(row)
            if operator_ == "OR":
                return lambda row: lhs(row) or rhs(row)
            function = _COMPARE.get(operator_) or _ARITHMETIC.get(operator_)
            if function is None:
                raise _Unsupported(f"operator {operator_}")
            return lambda row: function(lhs(row), rhs(row))

        def visitIsIn(self, lhs: Predicate, values: list[Predicate], not_in: bool, node: Any) -> Predicate:
            def member(row: Row) -> bool:
                value = lhs(row)
                found = False
                for candidate in values:
                    item = candidate(row)
                    if isinstance(item, range):
                        found = value in item
                    else:
                        found = value == item
                    if found:
                        break
                return found != not_in

            return member

        def visitParens(self, expression: Predicate, node: Any) -> Predicate:
            return expression

        def _unsupported(self, *args: Any, **kwargs: Any) -> Predicate:
            raise _Unsupported("time, UUID, bind, region, glob and function terms")

        visitUuidLiteral = visitTimeLiteral = visitBind = visitTupleNode = _unsupported
        visitFunctionCall = visitPointNode = visitCircleNode = visitBoxNode = _unsupported
        visitPolygonNode = visitRegionNode = visitGlobNode = _unsupported

    tree = parse_expression(text)
    if tree is None:
        return lambda row: True
    return tree.visit(Compiler())


def compile_split(by: str, *, values: tuple = (), dimension: str = "band", query: str | None = None,
                  path: str = "steps") -> Predicate | None:
    """Return a predicate over an inventory row (:data:`INVENTORY_FIELDS`) for a ``values``/``query`` split.

    ``values``: the row's ``dimension`` is one of ``values``; ``query``: the
    daf_butler expression holds. Other split kinds restrict nothing (None).
    ``path`` is the step's path in the spec, for errors.

    Raises:
        SpecError: the query does not parse, or names something the inventory
            does not know (``{path}.split.query``); the values split's
            dimension is not one the inventory knows (``{path}.split.dimension``).
    """
    if by == "values":
        field = _field(dimension)
        if field not in INVENTORY_FIELDS:
            raise SpecError([FieldError(f"{path}.split.dimension", f"{dimension!r} is not known to the inventory "
                                                                   f"(it knows {', '.join(INVENTORY_FIELDS)})")])
        wanted = {str(value) for value in values}
        return lambda row: str(row[field]) in wanted
    if by != "query" or not query:
        return None
    try:
        predicate = _compile_tree(query)
    except _Unsupported as err:
        raise SpecError([FieldError(f"{path}.split.query", f"cannot evaluate against the inventory: {err}")]) from err
    except Exception as err:  # the parser raises ParserYaccError/ParseError and friends
        raise SpecError([FieldError(f"{path}.split.query", f"not a valid Butler expression: {err}")]) from err

    def safe(row: Row) -> bool:
        try:
            return bool(predicate(row))
        except TypeError:  # e.g. band < 3: a comparison the data cannot satisfy
            return False

    return safe
