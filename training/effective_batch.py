"""The effective batch is a recipe's invariant: gradient accumulation is derived from it for the processes launched,
and a split that does not come out whole is refused with the settings that would."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from transformers import TrainingArguments

from famous_persona.config import command_line_keys
from famous_persona.errors import DataError
from training.run_data import RunArguments

logger = logging.getLogger(__name__)


def replicas(config: TrainingArguments) -> int:
    """Model copies that each take a per-device batch per step: the launched processes, times the GPUs a single
    process drives itself (several GPUs without a launcher)."""
    return config.world_size * max(1, config.n_gpu)


def per_device_sizes(total: int, copies: int) -> list[int]:
    """Per-device batch sizes that split `total` rows per step over `copies` into whole accumulation steps."""
    return [size for size in range(1, total // copies + 1) if total % (size * copies) == 0]


def split_refusal(total: int, per_device: int, copies: int) -> DataError:
    """Why `total` rows per step cannot be split, and the nearest settings that can."""
    problem = (
        f"effective_batch_size: {total} rows per optimizer step do not split into per_device_train_batch_size "
        f"{per_device} x {copies} process(es) x whole accumulation steps"
    )
    sizes = per_device_sizes(total, copies)
    if sizes:
        gap = min(abs(size - per_device) for size in sizes)
        nearest = " or ".join(str(size) for size in sizes if abs(size - per_device) == gap)
        problem += f"; per-device sizes that do: {', '.join(map(str, sizes))} (nearest: {nearest})"
    else:
        problem += f"; no per-device size does with {copies} processes"
    step = per_device * copies
    totals = sorted({value for value in ((total // step) * step, -(-total // step) * step) if value > 0})
    keep = " or ".join(map(str, totals))
    return DataError(f"{problem}; or keep per-device {per_device} with effective_batch_size {keep}")


def settle_accumulation(run: RunArguments, config: TrainingArguments) -> None:
    """The effective batch is the invariant: gradient accumulation is whatever makes it on this many processes."""
    if run.effective_batch_size is None:
        return
    copies = replicas(config)
    steps, rest = divmod(run.effective_batch_size, config.per_device_train_batch_size * copies)
    if rest or not steps:
        raise split_refusal(run.effective_batch_size, config.per_device_train_batch_size, copies)
    config.gradient_accumulation_steps = steps


def fill_without_repeats(config: TrainingArguments, rows: int) -> None:
    """Launched processes fill every per-device batch, cycling the rows when too few are left (accelerate's even
    batches): a training set smaller than one step's batches would be trained on copies of itself, so the per-device
    batch shrinks to what the rows fill."""
    copies = config.world_size
    if copies == 1 or rows >= config.per_device_train_batch_size * copies:
        return
    fitted = max(1, -(-rows // copies))
    logger.warning(
        "%d training rows fill less than one step of per-device batch %d x %d processes, which would repeat them "
        "to fill it: per-device batch %d",
        rows,
        config.per_device_train_batch_size,
        copies,
        fitted,
    )
    config.per_device_train_batch_size = fitted


def honour_stated_accumulation(configs: Sequence[Any], args: Sequence[str]) -> None:
    """A --gradient_accumulation_steps on the command line overrides the recipe's effective batch: the batch is
    then what that accumulation makes (logged when it differs, and the derivation is switched off)."""
    if "gradient_accumulation_steps" not in command_line_keys(args):
        return
    run = next((c for c in configs if isinstance(c, RunArguments)), None)
    config = next((c for c in configs if isinstance(c, TrainingArguments)), None)
    if run is None or config is None or run.effective_batch_size is None:
        return
    made = config.per_device_train_batch_size * replicas(config) * config.gradient_accumulation_steps
    if made != run.effective_batch_size:
        logger.warning(
            "--gradient_accumulation_steps %d makes an effective batch of %d rows, not the recipe's %d",
            config.gradient_accumulation_steps,
            made,
            run.effective_batch_size,
        )
        run.effective_batch_size = None
