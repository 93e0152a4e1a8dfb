"""KTO of a small model on one prefix method and fold, with TRL's KTOTrainer (LoRA or full fine-tuning).

KTO learns from single answers marked desirable or not instead of pairs; each baked DPO pair gives one of each, under
the prompt DPO would see. Same fold, validation slice, resume and manifest as DPO (training/common.py).

Usage: `python -m training.kto --config experiments/configs/models/tiny/kto.yaml --data DIR
--method persona_gold --fold 0 --output_dir dump/demo/tiny/kto/persona_gold/fold0 --model_name_or_path MODEL`.
"""

from __future__ import annotations

import logging

from datasets import Dataset
from trl import KTOConfig, KTOTrainer, ModelConfig

from famous_persona.chat import Conversation
from training.command import trainer_command
from training.common import Fitted, Job, fit, run_training
from training.run_data import Row, RunArguments

logger = logging.getLogger(__name__)


def unpaired_rows(conv: Conversation) -> list[Row]:
    """KTO's rows for one pair: the chosen answer as desirable and the rejected one as undesirable, both under the
    pair's prompt, so the two labels stay balanced one to one."""
    return [
        {"prompt": conv.prompt, "completion": conv.chosen, "label": True},
        {"prompt": conv.prompt, "completion": conv.rejected, "label": False},
    ]


def shuffled(rows: Dataset | None, seed: int) -> Dataset | None:
    """TRL's KTO reads rows in order (its KL estimate pairs each row with its neighbour's answer), so the order is
    shuffled once here: else a batch would be one person's and a pair's two answers would sit side by side."""
    return None if rows is None else rows.shuffle(seed=seed)


def build(job: Job) -> Fitted:
    policy = job.policy()
    seed = job.config.seed
    trainer = KTOTrainer(
        model=policy.model,
        ref_model=policy.reference,
        args=job.config,
        train_dataset=shuffled(job.dataset(job.data.train, unpaired_rows), seed),
        eval_dataset=shuffled(job.dataset(job.data.validation, unpaired_rows), seed),
        processing_class=job.tokenizer,
        peft_config=policy.peft,
    )
    return fit(trainer)


def train(run: RunArguments, config: KTOConfig, model_config: ModelConfig) -> None:
    run_training("training.kto", run, config, model_config, build, [run, config, model_config])


make_parser, main = trainer_command("kto", [RunArguments, KTOConfig, ModelConfig], __doc__, train)


if __name__ == "__main__":
    main()
