"""End to end on a small world: SFT warm-up, DPO (full and LoRA), scoring, results.csv; skipping and clear errors."""

from __future__ import annotations

from collections import Counter

import pandas as pd
import pytest
from trl import DPOConfig, ModelConfig, SFTConfig

from analysis.aggregate import COLUMNS, aggregate
from evaluation.score import ScoreArguments, score
from famous_persona.errors import DataError
from famous_persona.io import read_json
from famous_persona.models import is_adapter
from tests.support.world import CPU_TRAINING
from training import dpo, sft
from training.common import RunArguments, fold_data

FAST = dict(
    **CPU_TRAINING,
    per_device_train_batch_size=8,
    per_device_eval_batch_size=8,
    max_length=512,
    learning_rate=1e-3,
    logging_steps=5,
)


@pytest.fixture(scope="module")
def experiment(world, tiny_model, tmp_path_factory):
    root = tmp_path_factory.mktemp("dump") / "exp"
    run_dir = root / "tiny" / "persona_gold" / "fold0"
    warm = RunArguments(data=str(world.root), method="persona_gold", fold=0)
    sft.train(warm, SFTConfig(output_dir=str(run_dir / "sft"), **FAST), ModelConfig(model_name_or_path=str(tiny_model)))
    run = RunArguments(data=str(world.root), method="persona_gold", fold=0)
    dpo.train(
        run, DPOConfig(output_dir=str(run_dir), **FAST), ModelConfig(model_name_or_path=str(run_dir / "sft/model"))
    )
    lora_dir = root / "tiny" / "xyw_2s" / "fold0"
    lora = RunArguments(data=str(world.root), method="xyw_2s", fold=0)
    lora_model = ModelConfig(
        model_name_or_path=str(tiny_model),
        use_peft=True,
        lora_r=4,
        lora_alpha=8,
        lora_target_modules=["q_proj", "v_proj"],
    )
    dpo.train(lora, DPOConfig(output_dir=str(lora_dir), **FAST), lora_model)
    for method, directory, ref in (("persona_gold", run_dir, run_dir / "sft/model"), ("xyw_2s", lora_dir, None)):
        score(
            ScoreArguments(
                model=str(directory / "model"),
                data=str(world.root),
                test_method=method,
                fold=0,
                out=str(directory / "eval" / method),
                experiment="exp",
                model_short="tiny",
                train_method=method,
                ref_model=str(ref) if ref else None,
            )
        )
    return root


def test_runs_finish_with_manifest_and_log(experiment):
    run_dir = experiment / "tiny" / "persona_gold" / "fold0"
    manifest = read_json(run_dir / "manifest.json")
    assert manifest["status"] == "finished" and manifest["stage"] == "training.dpo"
    assert manifest["rows"]["train"] > 0 and manifest["rows"]["validation"] > 0
    assert (run_dir / "train_log.jsonl").stat().st_size > 0
    assert not list(run_dir.glob("checkpoint-*"))
    assert is_adapter(experiment / "tiny" / "xyw_2s" / "fold0" / "model")


def test_finished_run_is_skipped(experiment, world, tiny_model):
    run_dir = experiment / "tiny" / "persona_gold" / "fold0"
    before = (run_dir / "manifest.json").stat().st_mtime_ns
    run = RunArguments(data=str(world.root), method="persona_gold", fold=0)
    dpo.train(run, DPOConfig(output_dir=str(run_dir), **FAST), ModelConfig(model_name_or_path=str(tiny_model)))
    assert (run_dir / "manifest.json").stat().st_mtime_ns == before


def test_scores_have_reference_logps_for_both_kinds_of_reference(experiment):
    for method in ("persona_gold", "xyw_2s"):
        summary = read_json(experiment / "tiny" / method / "fold0" / "eval" / method / "summary.json")
        assert summary["accuracy"]["dpo_ref"]["all/total"]["n"] == summary["n_pairs"]
        assert summary["accuracy"]["ref_free_avg"]["seen/total"]["n"] > 0
        assert summary["accuracy"]["ref_free_avg"]["unseen/total"]["n"] > 0


def test_results_csv_has_exactly_the_spec_columns(experiment, world):
    aggregate(experiment)
    results = pd.read_csv(experiment / "results.csv")
    assert list(results.columns) == COLUMNS
    assert set(results["metric"]) == {"ref_free_avg", "ref_free_sum", "dpo_ref"}
    assert set(results["train_method"]) == {"persona_gold", "xyw_2s"}
    per_metric = results[(results["metric"] == "ref_free_avg") & (results["train_method"] == "persona_gold")]
    assert per_metric["n"].sum() == len(world.dpo("persona_gold", "test"))
    assert per_metric.groupby("name")["seen"].nunique().max() == 1
    assert (experiment / "table.md").read_text().count("persona_gold") >= 2


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
