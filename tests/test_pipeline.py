"""End to end on a small world: the session's training chain (SFT warm-up, DPO full and LoRA, scoring; see
tests/support/chain.py) read back, results.csv; skipping and clear errors."""

from __future__ import annotations

from collections import Counter

import pandas as pd
import pytest
from trl import DPOConfig, ModelConfig

from analysis.aggregate import COLUMNS, aggregate
from famous_persona.errors import DataError
from famous_persona.io import read_json
from famous_persona.models import is_adapter
from tests.support.chain import FAST
from training import dpo
from training.run_data import RunArguments, fold_data


def test_runs_finish_with_manifest_and_log(chain):
    run_dir = chain.full
    manifest = read_json(run_dir / "manifest.json")
    assert manifest["status"] == "finished" and manifest["stage"] == "training.dpo"
    assert manifest["rows"]["train"] > 0 and manifest["rows"]["validation"] > 0
    assert (run_dir / "train_log.jsonl").stat().st_size > 0
    assert not list(run_dir.glob("checkpoint-*"))
    assert is_adapter(chain.lora / "model")


def test_finished_run_is_skipped(chain, world, tiny_model):
    run_dir = chain.full
    before = (run_dir / "manifest.json").stat().st_mtime_ns
    run = RunArguments(data=str(world.root), method="persona_gold", fold=0)
    dpo.train(run, DPOConfig(output_dir=str(run_dir), **FAST), ModelConfig(model_name_or_path=str(tiny_model)))
    assert (run_dir / "manifest.json").stat().st_mtime_ns == before


def test_scores_have_reference_logps_for_both_kinds_of_reference(chain):
    for run in (chain.full, chain.lora):
        summary = read_json(chain.eval(run) / "summary.json")
        assert summary["accuracy"]["dpo_ref"]["all/total"]["n"] == summary["n_pairs"]
        assert summary["accuracy"]["ref_free_avg"]["seen/total"]["n"] > 0
        assert summary["accuracy"]["ref_free_avg"]["unseen/total"]["n"] > 0


def test_results_csv_has_exactly_the_spec_columns(chain, world):
    aggregate(chain.root)
    results = pd.read_csv(chain.root / "results.csv")
    assert list(results.columns) == COLUMNS
    assert set(results["metric"]) == {"ref_free_avg", "ref_free_sum", "dpo_ref"}
    assert set(results["train_method"]) == {"persona_gold", "xyw_2s"}
    per_metric = results[(results["metric"] == "ref_free_avg") & (results["train_method"] == "persona_gold")]
    assert per_metric["n"].sum() == len(world.dpo("persona_gold", "test"))
    assert per_metric.groupby("name")["seen"].nunique().max() == 1
    assert (chain.root / "table.md").read_text().count("persona_gold") >= 2


def test_validation_slice_comes_from_seen_people_train_pairs(world):
    run = RunArguments(data=str(world.root), method="xyw_2s", fold=1, val_fraction=0.25)
    data = fold_data(run, seed=0)
    pairs = {pair.id: pair for pair in world.pairs()}
    assert data.validation
    assert all(pairs[r.id].split == "train" and r.name in data.seen for r in data.validation)
    assert not {r.id for r in data.validation} & {r.id for r in data.train}
    assert all(r.name in data.seen for r in data.train)


def test_max_train_pairs_deals_a_balanced_seeded_subset(world):
    full = fold_data(RunArguments(data=str(world.root), method="xyw_2s", fold=1), seed=0)
    run = RunArguments(data=str(world.root), method="xyw_2s", fold=1, max_train_pairs=len(full.seen) * 2 + 1)
    data = fold_data(run, seed=0)
    per_person = Counter(row.name for row in data.train)
    assert len(data.train) == run.max_train_pairs
    assert set(per_person) == set(full.seen) and max(per_person.values()) - min(per_person.values()) <= 1
    assert {row.id for row in data.train} <= {row.id for row in full.train}
    assert data.validation == full.validation
    assert fold_data(run, seed=0).train == data.train
    with pytest.raises(DataError, match="max_train_pairs: must be at least 1"):
        fold_data(RunArguments(data=str(world.root), method="xyw_2s", fold=1, max_train_pairs=0), seed=0)


def test_empty_fold_exits_with_a_clear_message(world, tiny_model, tmp_path, capsys):
    with pytest.raises(SystemExit) as caught:
        dpo.main(
            [
                "--data",
                str(world.root),
                "--method",
                "tag",
                "--fold",
                "9",
                "--model_name_or_path",
                str(tiny_model),
                "--output_dir",
                str(tmp_path),
                "--bf16",
                "false",
                "--use_cpu",
                "true",
            ]
        )
    assert caught.value.code == 2
    assert "fold 9 has no people" in capsys.readouterr().err
