"""core.bulk.insert_rows: rows as tuples, set-based, in batches; the rows bulk_create would store."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, connection, transaction
from django.forms.models import model_to_dict
from django.test.utils import CaptureQueriesContext

from campaigns.models import Group
from core.bulk import insert_rows

from .factories import StepFactory

COLUMNS = ("step_id", "site_id", "ordinal", "data_query", "data_ids")
# what a client-side array literal must survive: quotes, braces, commas, backslashes, the word NULL, unicode
AWKWARD = ["visit IN (1, 2)", "NULL", "{a,b}", 'x"y\\z', "", "tract = 9813 AND band = 'é'"]


@pytest.fixture
def step(db):
    return StepFactory()


def _rows(step, count: int) -> list[tuple]:
    return [(step.pk, step.campaign.hub_id, ordinal, AWKWARD[ordinal % len(AWKWARD)],
             {"visit": list(range(ordinal, ordinal + 3)), "note": AWKWARD[ordinal % len(AWKWARD)]} if ordinal else {})
            for ordinal in range(count)]


def _stored(step) -> list[dict]:
    return [{**model_to_dict(group, exclude=["id"]), "status_changed_at": None}
            for group in Group.objects.filter(step=step).order_by("ordinal")]


def test_it_stores_what_bulk_create_stores(step):
    rows = _rows(step, 7)
    assert insert_rows(Group, COLUMNS, rows, values={"campaign": step.campaign}) == 7
    mine = _stored(step)
    Group.objects.filter(step=step).delete()
    Group.objects.bulk_create(Group(campaign=step.campaign, **dict(zip(COLUMNS, row, strict=True))) for row in rows)
    assert mine == _stored(step)
    assert mine[1]["data_ids"] == {"visit": [1, 2, 3], "note": "NULL"} and mine[0]["data_ids"] == {}
    assert [group["data_query"] for group in mine[:6]] == AWKWARD
    assert mine[0]["status"] == "waiting" and mine[0]["attempts"] == 0 and mine[0]["error_rule"] is None


def test_it_sends_batch_size_rows_per_statement_from_an_iterator(step, django_assert_num_queries):
    with django_assert_num_queries(3) as captured:
        count = insert_rows(Group, COLUMNS, iter(_rows(step, 5)), values={"campaign": step.campaign}, batch_size=2)
    assert count == 5 and all(") AS r(c0, " in query["sql"] for query in captured.captured_queries)
    ordinals = Group.objects.filter(step=step).order_by("ordinal").values_list("ordinal", flat=True)
    assert list(ordinals) == [0, 1, 2, 3, 4]


def test_no_rows_cost_no_query(step, django_assert_num_queries):
    with django_assert_num_queries(0):
        assert insert_rows(Group, COLUMNS, [], values={"campaign": step.campaign}) == 0


def test_one_default_instant_for_every_row(step):
    insert_rows(Group, COLUMNS, _rows(step, 3), values={"campaign": step.campaign})
    assert Group.objects.filter(step=step).values("status_changed_at").distinct().count() == 1


def test_other_databases_get_bulk_create(step, monkeypatch):
    rows = _rows(step, 4)
    monkeypatch.setattr(connection, "vendor", "sqlite")
    with CaptureQueriesContext(connection) as captured:
        assert insert_rows(Group, COLUMNS, rows, values={"campaign": step.campaign}, batch_size=3) == 4
    monkeypatch.undo()
    assert len(captured) == 2 and not any(") AS r(c0, " in query["sql"] for query in captured.captured_queries)
    fallback = _stored(step)
    Group.objects.filter(step=step).delete()
    insert_rows(Group, COLUMNS, rows, values={"campaign": step.campaign})
    assert fallback == _stored(step)


@pytest.mark.parametrize("vendor", ["postgresql", "sqlite"])
def test_a_row_of_the_wrong_length_is_refused(step, monkeypatch, vendor):
    monkeypatch.setattr(connection, "vendor", vendor)
    with pytest.raises(ValueError, match="a row has 4 values for 5 columns"):
        insert_rows(Group, COLUMNS, [(step.pk, step.campaign.hub_id, 0, "x")], values={"campaign": step.campaign})
    assert not Group.objects.filter(step=step).exists()


@pytest.mark.parametrize("columns, values, message", [
    (("step", "site_id", "ordinal"), {}, "Group.step is not a column"),
    (("step_id", "depends_on"), {}, "FieldDoesNotExist"),
    (("step_id", "ordinal", "ordinal"), {}, "named twice"),
    (("step_id", "campaign_id"), {"campaign": None}, "named twice"),
])
def test_it_refuses_columns_that_are_not_columns_or_named_twice(step, columns, values, message):
    with pytest.raises(Exception) as raised:
        insert_rows(Group, columns, [], values=values)
    assert message in f"{type(raised.value).__name__}: {raised.value}"


def test_it_refuses_a_batch_size_below_one(step):
    with pytest.raises(ValueError, match="batch_size must be at least 1"):
        insert_rows(Group, COLUMNS, [], batch_size=0)


def test_a_missing_required_value_is_the_database_s_error(step):
    # None in a JSON column is SQL NULL, as bulk_create stores it, and data_ids may not be NULL
    with pytest.raises(IntegrityError), transaction.atomic():
        insert_rows(Group, COLUMNS, [(step.pk, step.campaign.hub_id, 0, "x", None)], values={"campaign": step.campaign})
    with pytest.raises(IntegrityError), transaction.atomic():
        insert_rows(Group, COLUMNS, [(step.pk, step.campaign.hub_id, 0, "x", {})])  # no campaign
