"""--behavioural on the experiment scripts: judged generations land in results.csv beside the reward accuracy."""

from __future__ import annotations

import pandas as pd
import pytest

from tests.test_scripts import run


@pytest.mark.slow
def test_prompt_baseline_with_behavioural_adds_the_judged_metrics(world, tmp_path):
    out = tmp_path / "exp"
    done = run(
        "prompt_baseline.sh",
        "--data",
        str(world.root),
        "--out",
        str(out),
        "--methods",
        "no_prefix",
        "tag",
        "--behavioural",
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = pd.read_csv(out / "results.csv")
    judged = results[results["metric"].str.startswith("gen_")]
    assert set(judged["metric"]) == {"gen_world_aligned", "gen_reference_aligned", "gen_reference_rouge_aligned"}
    assert set(judged["test_method"]) == {"no_prefix", "tag"} and set(judged["fold"]) == {-1}
    reward = results[results["metric"] == "ref_free_avg"]
    for metric in judged["metric"].unique():
        assert judged[judged["metric"] == metric]["n"].sum() == reward["n"].sum()
    table = pd.read_csv(out / "analysis" / "behaviour_correlation.csv")
    assert set(table["behaviour"]) == set(judged["metric"]) and "gen_world_aligned" in done.stdout
    assert (out / "analysis" / "behaviour_gen_world_aligned.png").is_file()
