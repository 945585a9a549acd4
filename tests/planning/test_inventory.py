"""The table inventory reads a CSV straight into columns and refuses malformed input by line and column."""

from __future__ import annotations

import numpy as np
import pytest

from planning.inventory import InventoryArrays, InventoryError, TableInventory, VisitInfo


def write(tmp_path, text: str):
    path = tmp_path / "inventory.csv"
    path.write_text(text)
    return path


def test_it_merges_rows_of_a_visit_into_one_visit_with_sorted_tracts(tmp_path):
    path = write(tmp_path, "visit,exposure,band,tract\n7,70,r,12\n3,30,g,\n7,70,r,11\n7,70,r,12\n5,50, g ,11\n")

    inventory = TableInventory(path)

    assert inventory.visits() == [
        VisitInfo(3, 30, "g", ()),
        VisitInfo(5, 50, "g", (11,)),
        VisitInfo(7, 70, "r", (11, 12)),
    ]
    assert inventory.tracts() == [11, 12]


def test_it_keeps_columns_not_python_rows(tmp_path):
    path = write(tmp_path, "visit,exposure,band,tract\n1,10,g,5\n1,10,g,6\n2,20,r,6\n")

    arrays = TableInventory(path).arrays()

    assert arrays.visit.dtype == np.int64 and arrays.visit.tolist() == [1, 2]
    assert arrays.tract_offsets.tolist() == [0, 2, 3]
    assert arrays.tract_ids.tolist() == [5, 6, 6]
    assert [arrays.bands[code] for code in arrays.band.tolist()] == ["g", "r"]
    assert arrays.center_tracts.size == 0


def test_it_reads_tract_centres_when_the_table_has_them(tmp_path):
    path = write(
        tmp_path,
        "visit,exposure,band,tract,tract_ra,tract_dec\n1,10,g,6,20.5,-3.0\n1,10,g,5,10.0,-3.0\n2,20,r,6,20.5,-3.0\n",
    )

    arrays = TableInventory(path).arrays()

    assert arrays.center_tracts.tolist() == [5, 6]
    assert arrays.center_ra.tolist() == [10.0, 20.5]
    assert arrays.center_dec.tolist() == [-3.0, -3.0]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("visit,exposure,band\n1,10,g\n", "missing column"),
        ("visit,exposure,band,tract\n1,10,g,x\n", "invalid value 'x'"),
        ("visit,exposure,band,tract\n1.5,10,g,3\n", "invalid value '1.5'"),
        ("visit,exposure,band,tract\n1,10,g,3\n1,11,g,4\n", "visit 1 has two exposures or bands"),
        ("visit,exposure,band,tract\n1,10,g,3\n1,10,r,4\n", "visit 1 has two exposures or bands"),
        ("visit,exposure,band,tract\n,10,g,3\n", "column visit has an empty cell"),
    ],
)
def test_it_refuses_a_malformed_table_naming_what_is_wrong(tmp_path, text, message):
    with pytest.raises(InventoryError, match=message):
        TableInventory(write(tmp_path, text))


def test_it_says_when_the_file_cannot_be_read(tmp_path):
    with pytest.raises(InventoryError, match="cannot read inventory"):
        TableInventory(tmp_path / "absent.csv")


def test_columns_round_trip_through_visit_infos():
    visits = [VisitInfo(4, 40, "i", (2, 9)), VisitInfo(1, 10, "g", ()), VisitInfo(2, 20, "g", (9,))]

    arrays = InventoryArrays.from_visit_infos(visits)

    assert arrays.visit_infos() == sorted(visits, key=lambda info: info.visit)
