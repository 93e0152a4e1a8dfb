"""SFT warm-up on the chosen answers (answer tokens only), for base models that are not instruction-tuned, such as
the tiny local model. Same data, prefix, fold and validation slice as DPO; TRL's SFTTrainer does the work.

Usage: `python -m training.sft --config experiments/configs/models/tiny/sft.yaml --data DIR --method persona_gold
--fold 0 --output_dir dump/demo/tiny/dpo/persona_gold/fold0/sft --model_name_or_path dump/demo/base`.
"""

from __future__ import annotations

import logging

from trl import ModelConfig, SFTConfig, SFTTrainer, get_peft_config

from training.command import trainer_command
from training.common import Fitted, Job, fit, run_training
from training.run_data import RunArguments, chosen_rows

logger = logging.getLogger(__name__)


def build(job: Job) -> Fitted:
    train_set = job.dataset(job.data.train, chosen_rows)
    validation = job.dataset(job.data.validation, chosen_rows)
    trainer = SFTTrainer(
        model=job.load_model().train(),
        args=job.config,
        train_dataset=train_set,
        eval_dataset=validation,
        processing_class=job.tokenizer,
        peft_config=get_peft_config(job.model_config),
    )
    return fit(trainer)


def train(run: RunArguments, config: SFTConfig, model_config: ModelConfig) -> None:
    run_training("training.sft", run, config, model_config, build, [run, config, model_config])


make_parser, main = trainer_command("sft", [RunArguments, SFTConfig, ModelConfig], __doc__, train)


if __name__ == "__main__":
    main()
