"""The training chain the post-training tests read, trained once per session on the shared world: an SFT warm-up,
full DPO from it (persona_gold), LoRA DPO from the base (xyw_2s), and each model scored with its own prefix, laid out
as an experiment folder (`<root>/tiny/<method>/fold0`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from trl import DPOConfig, ModelConfig, SFTConfig

from evaluation.score import ScoreArguments, score
from famous_persona.io import DatasetDir
from tests.support.world import CPU_TRAINING
from training import dpo, sft
from training.run_data import RunArguments

FAST = dict(
    **CPU_TRAINING,
    per_device_train_batch_size=8,
    per_device_eval_batch_size=8,
    max_length=512,
    learning_rate=1e-3,
    logging_steps=5,
)
"""One epoch at a high learning rate in batches of eight: the DPO and SFT settings of the chain."""
LORA = dict(use_peft=True, lora_r=4, lora_alpha=8, lora_target_modules=["q_proj", "v_proj"])
FULL_METHOD, LORA_METHOD = "persona_gold", "xyw_2s"


@dataclass(frozen=True)
class Chain:
    """Where each stage of the chain left its output."""

    root: Path
    sft: Path
    full: Path
    lora: Path

    def eval(self, run: Path) -> Path:
        """A run's scores with its own prefix."""
        return run / "eval" / run.parent.name


def train_chain(world: DatasetDir, tiny_model: Path, root: Path) -> Chain:
    """SFT, then DPO from it and LoRA DPO from the base, then both scored (the full run against the SFT model)."""
    full, lora = root / "tiny" / FULL_METHOD / "fold0", root / "tiny" / LORA_METHOD / "fold0"
    chain = Chain(root, full / "sft", full, lora)
    sft.train(_run(world, FULL_METHOD), SFTConfig(output_dir=str(chain.sft), **FAST), _model(tiny_model))
    dpo.train(_run(world, FULL_METHOD), DPOConfig(output_dir=str(full), **FAST), _model(chain.sft / "model"))
    dpo.train(_run(world, LORA_METHOD), DPOConfig(output_dir=str(lora), **FAST), _model(tiny_model, **LORA))
    for run, reference in ((full, chain.sft / "model"), (lora, None)):
        _score(world, chain, run, reference)
    return chain


def _run(world: DatasetDir, method: str) -> RunArguments:
    return RunArguments(data=str(world.root), method=method, fold=0)


def _model(path: Path, **options: object) -> ModelConfig:
    return ModelConfig(model_name_or_path=str(path), **options)


def _score(world: DatasetDir, chain: Chain, run: Path, reference: Path | None) -> None:
    method = run.parent.name
    args = ScoreArguments(
        model=str(run / "model"),
        data=str(world.root),
        test_method=method,
        fold=0,
        out=str(chain.eval(run)),
        experiment=chain.root.name,
        model_short="tiny",
        train_method=method,
        ref_model=str(reference) if reference else None,
    )
    score(args)
