"""A trainer module's command line: its parser with this machine's defaults, and a `main` that parses and trains
with the libraries' noise kept out of the log."""

from __future__ import annotations

import logging
import os
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import torch
from trl import TrlParser

from famous_persona.config import Subparsers, parse_config, stage_parser
from famous_persona.errors import exit_on_data_error
from famous_persona.models import bf16_supported
from training.effective_batch import honour_stated_accumulation

# TRL's configs give the deprecated `gradient_checkpointing` a default and its trainers ask `is_gradient_checkpointing`,
# so transformers warns on every run even when a recipe sets `activation_checkpointing`: nothing a user could change.
DEPRECATED_ALIAS = r"`(is_)?gradient_checkpointing\w*` is deprecated"
# Loading the best checkpoint of a model whose output layer is tied to its input embeddings: the file holds no
# `lm_head.weight` (it is the embedding matrix), and the trainer warns although nothing is lost.
TIED_HEAD = "There were missing keys in the checkpoint model loaded: ['lm_head.weight']."


@contextmanager
def library_noise_quieted() -> Iterator[None]:
    """Drop the two messages every run log showed that say nothing about the run: the deprecated alias warnings and
    the tied output layer reported missing."""
    trainer_logger = logging.getLogger("transformers.trainer")
    trainer_logger.addFilter(_not_tied_head)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", DEPRECATED_ALIAS, FutureWarning)
            yield
    finally:
        trainer_logger.removeFilter(_not_tied_head)


def _not_tied_head(record: logging.LogRecord) -> bool:
    return record.getMessage() != TIED_HEAD


def launched_without_cuda() -> bool:
    """Several processes started by a launcher on a machine without CUDA: only the CPU path (gloo) joins them, and
    without it each would train alone, all writing the same run folder."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1 and not torch.cuda.is_available()


def trainer_command(
    command: str, dataclass_types: Sequence[type], doc: str | None, train: Callable[..., None]
) -> tuple[Callable, Callable]:
    """`make_parser` and `main` of a trainer module: the parsed dataclasses, in order, are `train`'s arguments."""

    def make_parser(subparsers: Subparsers | None = None) -> TrlParser:
        parser = stage_parser(command, dataclass_types, doc, subparsers)
        parser.set_defaults(bf16=bf16_supported(), use_cpu=launched_without_cuda())
        return parser

    @exit_on_data_error
    def main(args: list[str] | None = None, parser: TrlParser | None = None) -> None:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
        args = list(args) if args is not None else sys.argv[1:]
        with library_noise_quieted():
            configs = parse_config(parser or make_parser(), args)
            honour_stated_accumulation(configs, args)
            train(*configs)

    return make_parser, main
