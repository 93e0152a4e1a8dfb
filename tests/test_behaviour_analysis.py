"""Reward accuracy vs behavioural metrics: correlations across people and methods, bootstrap over people."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.aggregate import COLUMNS
from analysis.behaviour import BehaviourArguments, correlation_table, main, run
from famous_persona.errors import DataError


def _results(flip_behaviour: bool = False) -> pd.DataFrame:
    """Four methods × eight people; the behavioural metric rises with reward accuracy (or falls when flipped)."""
    rng = np.random.default_rng(1)
    rows = []
    for m, method in enumerate(["no_prefix", "tag", "xyw_2s", "persona_gold"]):
        for p in range(8):
            correct = int(min(10, 2 + m + p // 2 + rng.integers(0, 2)))
            aligned = 10 - correct if flip_behaviour else correct
            for metric, k in (("ref_free_avg", correct), ("gen_world_aligned", aligned)):
                rows.append(
                    [
                        "demo",
                        "tiny",
                        "dpo",
                        method,
                        method,
                        0,
                        f"person{p}",
                        p % 2 == 0,
                        "divergent",
                        metric,
                        10,
                        k,
                        k / 10,
                        "fold",
                        "tiny-base",
                        "0123abcd4567",
                    ]
                )
    return pd.DataFrame(rows, columns=COLUMNS)


@pytest.mark.parametrize("flip", [False, True])
def test_correlation_follows_the_relationship_with_an_interval_around_it(flip):
    table = correlation_table(_results(flip), "ref_free_avg", n_boot=100, seed=0)
    row = table[(table["group"] == "all") & (table["level"] == "people")].iloc[0]
    sign = -1 if flip else 1
    assert row["n"] == 32 and sign * row["rho"] == pytest.approx(1.0) and sign * row["tau"] == pytest.approx(1.0)
    methods = table[(table["group"] == "all") & (table["level"] == "methods")].iloc[0]
    assert methods["n"] == 4 and sign * methods["tau"] == pytest.approx(1.0)
    assert set(table["group"]) == {"seen", "unseen", "all"}
    assert (table["rho_low"] <= table["rho"] + 1e-9).all() and (table["rho"] <= table["rho_high"] + 1e-9).all()


def test_uncorrelated_metrics_get_an_interval_that_spans_zero():
    results = _results()
    rng = np.random.default_rng(5)
    gen = results["metric"] == "gen_world_aligned"
    results.loc[gen, "n_correct"] = rng.integers(0, 11, gen.sum())
    results.loc[gen, "accuracy"] = results.loc[gen, "n_correct"] / 10
    row = correlation_table(results, "ref_free_avg", n_boot=200, seed=0).query("group == 'all' and level == 'people'")
    assert row["tau_low"].iloc[0] < 0 < row["tau_high"].iloc[0]


def test_command_writes_the_csv_and_a_scatter_per_metric(tmp_path, capsys):
    _results().to_csv(tmp_path / "results.csv", index=False)
    main(["--experiment_dir", str(tmp_path), "--n_boot", "20"])
    assert "gen_world_aligned" in capsys.readouterr().out
    written = pd.read_csv(tmp_path / "analysis" / "behaviour_correlation.csv")
    assert len(written) == 6 and (tmp_path / "analysis" / "behaviour_gen_world_aligned.png").stat().st_size > 1000


def test_results_without_behaviour_are_a_clear_error(tmp_path, capsys):
    results = _results()
    results[results["metric"] == "ref_free_avg"].to_csv(tmp_path / "results.csv", index=False)
    with pytest.raises(SystemExit) as exit_info:
        main(["--experiment_dir", str(tmp_path)])
    assert exit_info.value.code == 2 and "gen_" in capsys.readouterr().err
    with pytest.raises(DataError, match="results.csv"):
        run(BehaviourArguments(experiment_dir=str(tmp_path / "missing")))
