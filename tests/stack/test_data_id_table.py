"""A regional group's quanta as a data-ID table for pipetask (``stack.pipetask.write_data_id_table``)."""

from __future__ import annotations

import pytest
from astropy.table import Table

from stack.pipetask import build_command, write_data_id_table


def test_it_writes_the_product_of_the_columns_as_rows(tmp_path):
    path = write_data_id_table({"healpix3": [281], "instrument": ["MockCam"], "visit": [1, 2],
                                "skymap": ["mock_skymap"], "tract": [9469, 9470]}, tmp_path / "ids.ecsv")
    table = Table.read(path)
    assert table.colnames == ["healpix3", "instrument", "visit", "skymap", "tract"]
    assert sorted(zip(table["visit"].tolist(), table["tract"].tolist(), strict=True)) == [
        (1, 9469), (1, 9470), (2, 9469), (2, 9470)]
    assert set(table["healpix3"].tolist()) == {281} and set(table["instrument"].tolist()) == {"MockCam"}


@pytest.mark.parametrize("columns", [{}, {"healpix3": [281], "visit": []}])
def test_it_refuses_a_table_with_no_rows(tmp_path, columns):
    with pytest.raises(ValueError, match="non-empty column"):
        write_data_id_table(columns, tmp_path / "ids.ecsv")
    assert not (tmp_path / "ids.ecsv").exists()


def test_the_table_reaches_pipetask_as_its_own_option(tmp_path):
    command = build_command(tmp_path / "repo", "step2c", inputs=["in"], output="out", output_run="out/run",
                            data_query="instrument='MockCam'", extra_args=["--data-id-table", "ids.ecsv"])
    index = command.index("--data-id-table")
    assert command[index + 1] == "ids.ecsv"  # one argument, never split from the query
    assert command[command.index("-d") + 1] == "instrument='MockCam'"
