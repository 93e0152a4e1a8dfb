"""DPO of a small model on one prefix method and fold, with TRL's DPOTrainer (LoRA, QLoRA or full fine-tuning).

Usage: `python -m training.dpo --config experiments/configs/models/tiny/dpo.yaml --data DIR
--method persona_gold --fold 0 --run_dir dump/demo/tiny/persona_gold/fold0 --model_name_or_path dump/demo/base`.
Re-running resumes from the last checkpoint; a finished run is skipped unless `--force`. With `--refresh_every N`
the model re-infers its persona prefixes every N epochs (training.persona_refresh).
"""

from __future__ import annotations

import copy
import logging
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from transformers import PreTrainedTokenizerBase
from trl import DPOConfig, DPOTrainer, ModelConfig, TrlParser, get_peft_config

from famous_persona.config import Subparsers, parse_config, stage_parser
from famous_persona.errors import exit_on_data_error
from famous_persona.io import DatasetDir
from famous_persona.models import load_model, load_tokenizer
from training.common import (
    FoldData,
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
from training.persona_refresh import PersonaRefresher, RefreshArguments, train_in_rounds

logger = logging.getLogger(__name__)


def train(
    run: RunArguments, config: DPOConfig, model_config: ModelConfig, refresh: RefreshArguments | None = None
) -> None:
    if should_skip(run):
        return
    data = fold_data(run, config.seed)
    tokenizer = load_tokenizer(model_config.model_name_or_path)
    counter: Counter = Counter()
    config.output_dir = str(Path(run.run_dir) / "checkpoints")
    select_on_validation(config, bool(data.validation))
    peft_config = get_peft_config(model_config)
    held = {"model": load_model(**model_inputs(model_config)).train(), "peft": peft_config}
    refreshing = refresh is not None and refresh.refresh_every > 0
    # The reference is the base model: LoRA switched off, or a loaded copy where refresh rounds hand a trained
    # adapter on (TRL would otherwise freeze that adapter as the reference and let it drift round by round).
    ref_model = load_model(**model_inputs(model_config)) if peft_config is None or refreshing else None

    def make_trainer(train_rows: list, validation_rows: list, args: DPOConfig) -> DPOTrainer:
        """A trainer on the model as it stands; the LoRA adapter is added once and then trained further."""
        validation = to_dataset(validation_rows, tokenizer, run, args.max_length, counter) if validation_rows else None
        trainer = DPOTrainer(
            model=held["model"],
            ref_model=ref_model,
            args=args,
            train_dataset=to_dataset(train_rows, tokenizer, run, args.max_length, counter),
            eval_dataset=validation,
            processing_class=tokenizer,
            peft_config=held["peft"],
        )
        held["model"], held["peft"] = trainer.model, None
        return trainer

    with Timer() as timer:
        if refreshing:
            trainer, resume, extra = _train_with_refresh(run, config, refresh, data, make_trainer, tokenizer)
        else:
            trainer, extra = make_trainer(data.train, data.validation, config), {}
            resume = last_checkpoint(config.output_dir)
            if resume:
                logger.info("resuming from %s", resume)
            trainer.train(resume_from_checkpoint=resume)
    save_and_finish(
        trainer,
        tokenizer,
        run,
        "training.dpo",
        [run, config, model_config],
        base_model=model_config.model_name_or_path,
        seen=data.seen,
        unseen=data.unseen,
        rows={"train": len(data.train), "validation": len(data.validation), "truncated": counter["truncated"]},
        train_seconds=round(timer.seconds, 2),
        resumed_from=resume and Path(resume).name,
        **extra,
    )


def _train_with_refresh(
    run: RunArguments,
    config: DPOConfig,
    refresh: RefreshArguments,
    data: FoldData,
    make_trainer: Callable[[list, list, DPOConfig], DPOTrainer],
    tokenizer: PreTrainedTokenizerBase,
) -> tuple[DPOTrainer, None, dict]:
    """Rounds of `refresh_every` epochs, the persona method re-inferred by the policy after each."""
    method = refresh.refresh_method or run.method
    refresher = PersonaRefresher(DatasetDir(run.data), method, refresh, Path(run.run_dir) / "refresh")

    def round_trainer(train_rows: list, validation_rows: list, index: int, epochs: float) -> DPOTrainer:
        args = copy.deepcopy(config)
        args.num_train_epochs = epochs
        args.output_dir = str(Path(config.output_dir) / f"round{index}")
        return make_trainer(train_rows, validation_rows, args)

    rows = (data.train, data.validation)
    trainer, resume = train_in_rounds(
        refresher, rows, config.num_train_epochs, refresh.refresh_every, round_trainer, tokenizer, config.seed
    )
    resumed = resume and str(Path(resume).relative_to(run.run_dir))
    return trainer, None, {"persona_refresh": {"method": method, "rounds": refresher.log(), "resumed_from": resumed}}


@exit_on_data_error
def make_parser(subparsers: Subparsers | None = None) -> TrlParser:
    return stage_parser("train", [RunArguments, DPOConfig, ModelConfig, RefreshArguments], __doc__, subparsers)


def main(args: list[str] | None = None, parser: TrlParser | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    train(*parse_config(parser or make_parser(), args))


if __name__ == "__main__":
    main()
