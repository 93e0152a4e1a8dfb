"""A table's spread over runs of one plan: mean and range per cell, each run's own value, the seeds the runs
recorded, and a refusal where the tables are not of one plan and dataset."""

from __future__ import annotations

import pandas as pd
import pytest

from analysis import spread
from famous_persona.io import write_json

ROW = {"model": "tiny", "train_method": "persona_gold", "test_method": "persona_gold", "seen": "unseen",
       "n_people": 8, "folds": 1, "n_pairs": 96}  # fmt: skip


def experiment(folder, total: float, seed: int, people: int = 8):
    """An experiment folder with a one-row table and a trained run whose manifest records its seed."""
    folder.mkdir()
    cells = {"Personal": total - 0.1, "Divergent": total + 0.1, "Total": total, "Total_low": 0.0, "Total_high": 1.0}
    pd.DataFrame([{**ROW, "n_people": people, **cells}]).to_csv(folder / "table.csv", index=False)
    manifest = {"config": {"DPOConfig": {"seed": seed}, "RunArguments": {}}, "git_commit": "abcdef123", "status": "x"}
    write_json(folder / "tiny" / "dpo" / "run" / "manifest.json", manifest)
    return folder


def test_each_cell_gets_the_mean_and_range_over_runs_and_each_runs_value(tmp_path, capsys):
    folders = [experiment(tmp_path / f"run{i}", total, seed) for i, (total, seed) in enumerate([(0.7, 42), (0.8, 1),
                                                                                               (0.6, 2)])]  # fmt: skip
    spread.main(["--experiment_dirs", *map(str, folders)])
    table = pd.read_csv(folders[0] / "spread.csv")
    total = table[table["measure"] == "Total"].iloc[0]
    assert total["mean"] == pytest.approx(0.7) and total["low"] == 0.6 and total["high"] == 0.8
    assert [total[str(f)] for f in folders] == [0.7, 0.8, 0.6]
    assert set(table["measure"]) == {"Personal", "Divergent", "Total"}
    out = capsys.readouterr().out
    assert f"{folders[1]}: training seeds 1, commits abcdef1" in out and "0.700" in out


def test_tables_of_other_people_or_a_missing_table_are_refused_with_exit_2(tmp_path, capsys):
    one, other = experiment(tmp_path / "a", 0.7, 42), experiment(tmp_path / "b", 0.7, 1, people=9)
    with pytest.raises(SystemExit) as done:
        spread.main(["--experiment_dirs", str(one), str(other)])
    assert done.value.code == 2 and f"{other / 'table.csv'}" in capsys.readouterr().err
    (tmp_path / "c").mkdir()
    with pytest.raises(SystemExit) as done:
        spread.main(["--experiment_dirs", str(one), str(tmp_path / "c")])
    assert done.value.code == 2 and "c/table.csv: no table" in capsys.readouterr().err
