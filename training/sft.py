"""SFT warm-up on the chosen answers (answer tokens only), for base models that are not instruction-tuned, such as
the tiny local model. Same data, prefix, fold and validation slice as DPO; TRL's SFTTrainer does the work.

Usage: `python -m training.sft --config experiments/configs/models/tiny/sft.yaml --data DIR
--method persona_gold --fold 0 --run_dir dump/demo/tiny/persona_gold/fold0/sft --model_name_or_path dump/demo/base`.
"""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

from trl import ModelConfig, SFTConfig, SFTTrainer, TrlParser, get_peft_config

from famous_persona.config import Subparsers, parse_config, stage_parser
from famous_persona.errors import exit_on_data_error
from famous_persona.models import load_model, load_tokenizer
from training.common import (
    RunArguments,
    Timer,
    fold_data,
    last_checkpoint,
    model_inputs,
    save_and_finish,
    select_on_validation,
    should_skip,
    to_dataset,
)

logger = logging.getLogger(__name__)


def train(run: RunArguments, config: SFTConfig, model_config: ModelConfig) -> None:
    if should_skip(run):
        return
    data = fold_data(run, config.seed)
    tokenizer = load_tokenizer(model_config.model_name_or_path)
    counter: Counter = Counter()
    train_set = to_dataset(data.train, tokenizer, run, config.max_length, counter, sft=True)
    validation = (
        to_dataset(data.validation, tokenizer, run, config.max_length, counter, sft=True) if data.validation else None
    )
    config.output_dir = str(Path(run.run_dir) / "checkpoints")
    select_on_validation(config, validation is not None)
    trainer = SFTTrainer(
        model=load_model(**model_inputs(model_config)).train(),
        args=config,
        train_dataset=train_set,
        eval_dataset=validation,
        processing_class=tokenizer,
        peft_config=get_peft_config(model_config),
    )
    resume = last_checkpoint(config.output_dir)
    if resume:
        logger.info("resuming from %s", resume)
    with Timer() as timer:
        trainer.train(resume_from_checkpoint=resume)
    save_and_finish(
        trainer,
        tokenizer,
        run,
        "training.sft",
        [run, config, model_config],
        base_model=model_config.model_name_or_path,
        seen=data.seen,
        unseen=data.unseen,
        rows={"train": len(data.train), "validation": len(data.validation), "truncated": counter["truncated"]},
        train_seconds=round(timer.seconds, 2),
        resumed_from=resume and Path(resume).name,
    )


@exit_on_data_error
def make_parser(subparsers: Subparsers | None = None) -> TrlParser:
    return stage_parser("sft", [RunArguments, SFTConfig, ModelConfig], __doc__, subparsers)


def main(args: list[str] | None = None, parser: TrlParser | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    train(*parse_config(parser or make_parser(), args))


if __name__ == "__main__":
    main()
