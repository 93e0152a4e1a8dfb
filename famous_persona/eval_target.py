"""The model an evaluation runs and how text reaches it, settled in one place for every stage that runs a trained
model on test prompts (scoring, response generation, attribution, the scorer benchmark), so none of them can see
the text otherwise than training did (docs/design.md §10).

A trained model sits at `<run>/model` beside the run's `manifest.json`; its recorded settings (base model, maximum
length, system turn, precision, fold) fill every setting not given. A value given explicitly wins, except where it
contradicts what the run is (another base model, another fold): that is refused, naming the manifest and the field.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

from transformers import PreTrainedModel, PreTrainedTokenizerBase

from famous_persona.errors import DataError
from famous_persona.io import read_json
from famous_persona.models import is_adapter, load_model, load_tokenizer, placement

FROM_RUN = "@run"
DEFAULT_MAX_LENGTH = 512
RUN_SECTIONS = ("ModelConfig", "DPOConfig", "KTOConfig", "SFTConfig", "RunArguments")
"""The sections of a run manifest's config that say how the run saw its text, whichever trainer wrote it."""
IDENTITY = ("fold", "fold_scheme")
"""What an evaluation states about a trained run that must agree with the run's manifest."""


@dataclass(kw_only=True)
class TargetArguments:
    """Which model runs and how its text is made; every value left unset is read from the trained run."""

    model: str = field(metadata={"help": "Model dir, LoRA adapter dir or hub id."})
    base_model: str | None = field(
        default=None,
        metadata={
            "help": "The model the run started from (for an adapter: the weights it goes on). Default: the trained "
            "run's, else the adapter's own; another model than the run's manifest names is refused."
        },
    )
    max_length: int | None = field(
        default=None,
        metadata={
            "help": f"Tokens; longer prefixes are cut deliberately. Default: the run's, else {DEFAULT_MAX_LENGTH}."
        },
    )
    system_prompt: str | None = field(
        default=FROM_RUN,
        metadata={
            "help": f"System message, as in training; default {FROM_RUN!r}: the trained run's (no system turn for a "
            "model without a run manifest). An explicit value, '' included, is used as given."
        },
    )
    dtype: str | None = field(
        default=None,
        metadata={
            "help": "auto (bfloat16 on a GPU that computes in it, else float32), float32, bfloat16 or float16. "
            "Default: the trained run's, else auto."
        },
    )
    device: str = field(default="auto", metadata={"help": "auto (this process's GPU, else the CPU), cpu, cuda:1..."})


@dataclass(kw_only=True)
class EvalArguments(TargetArguments):
    """What scoring and response generation share: the target, the test prefix, the run's identity, the shards."""

    data: str = field(metadata={"help": "Dataset directory."})
    test_method: str = field(metadata={"help": "Test prefix: reads dpo/<test_method>/test.jsonl."})
    out: str = field(
        metadata={"help": "Output directory, one per stage: <run>/eval/<test_method> or <run>/generate/<test_method>."}
    )
    experiment: str = field(default="adhoc", metadata={"help": "Experiment name recorded in the outputs."})
    model_short: str = field(default="model", metadata={"help": "Short base-model name recorded in the outputs."})
    train_method: str = field(default="none", metadata={"help": "Train prefix of the model; 'none' for prompt-only."})
    fold: int = field(default=-1, metadata={"help": "Fold the model was trained for; -1 = prompt-only (all unseen)."})
    fold_scheme: str = field(default="fold", metadata={"help": "fold, axis or person, as in training."})
    batch_size: int = field(default=32, metadata={"help": "Sequences per forward pass."})
    force: bool = field(default=False, metadata={"help": "Redo the output even if a finished one exists."})
    num_shards: int = field(default=1, metadata={"help": "Processes sharing the work; a launcher's count if 1."})
    shard_index: int = field(default=0, metadata={"help": "This process's share, 0..num_shards-1."})


Args = TypeVar("Args", bound=TargetArguments)


@dataclass(frozen=True)
class TrainedRun:
    """What the manifest of the run that trained a model records about it."""

    manifest: Path
    stage: str | None
    base_model: str | None
    settings: dict[str, Any]


@dataclass(frozen=True)
class EvalTarget:
    """A model ready to load and the text settings it is evaluated with, every one of them settled."""

    model: str
    weights: str
    adapter: str | None
    base_model: str | None
    max_length: int
    system_prompt: str | None
    dtype: str
    device: str
    run: TrainedRun | None

    @property
    def beta(self) -> float | None:
        """The run's β, for the dpo_ref margin; None for a model no run trained."""
        return self.run.settings.get("beta") if self.run else None


def trained_run(model: str | Path) -> TrainedRun | None:
    """The run beside `<run>/model`, or None for a model no run of this project trained (a base model, a hub id)."""
    manifest = Path(model).parent / "manifest.json"
    if not manifest.is_file():
        return None
    recorded = read_json(manifest)
    config = recorded.get("config", {})
    settings = {key: value for section in RUN_SECTIONS for key, value in config.get(section, {}).items()}
    return TrainedRun(manifest, recorded.get("stage"), recorded.get("base_model"), settings)


def _same_model(given: str, recorded: str) -> bool:
    """One model named two ways: the same folder however written, or the same hub id."""
    if Path(given).exists() and Path(recorded).exists():
        return Path(given).resolve() == Path(recorded).resolve()
    return str(Path(given)) == str(Path(recorded))


def _adapter_base(adapter: str) -> str:
    """The base an adapter was saved on, read from its config without loading PEFT."""
    base = read_json(Path(adapter) / "adapter_config.json").get("base_model_name_or_path")
    if not base:
        raise DataError(f"{Path(adapter) / 'adapter_config.json'}: base_model_name_or_path: missing; give --base_model")
    return base


def check_against_run(run: TrainedRun, given: dict[str, Any]) -> None:
    """Refuse a value that says the model is something its run was not (one line: the manifest, the field)."""
    for key, value in given.items():
        recorded = run.base_model if key == "base_model" else run.settings.get(key)
        if value is None or recorded is None:
            continue
        same = _same_model(value, recorded) if key == "base_model" else value == recorded
        if not same:
            raise DataError(
                f"{run.manifest}: {key}: the run was trained with {recorded!r}, not {value!r}; leave --{key} out "
                "or evaluate the run that matches"
            )


def resolve_target(args: TargetArguments) -> EvalTarget:
    """The one reading of model, adapter, base, system turn, maximum length, precision and device: explicit values,
    then the trained run's, then the defaults; contradictions of the run refused."""
    run = trained_run(args.model)
    if run is not None:
        identity = {key: getattr(args, key) for key in IDENTITY if getattr(args, "train_method", "none") != "none"}
        check_against_run(run, {"base_model": args.base_model, **identity})
    recorded = run.settings if run else {}
    adapter = args.model if is_adapter(args.model) else None
    base = args.base_model or (run.base_model if run else None) or (_adapter_base(args.model) if adapter else None)
    where = placement(args.dtype or recorded.get("dtype") or "auto", args.device)
    return EvalTarget(
        model=args.model,
        weights=base if adapter else args.model,
        adapter=adapter,
        base_model=base,
        max_length=args.max_length or recorded.get("max_length") or DEFAULT_MAX_LENGTH,
        system_prompt=recorded.get("system_prompt") if args.system_prompt == FROM_RUN else args.system_prompt,
        dtype=str(where.dtype).removeprefix("torch."),
        device=str(where.device),
        run=run,
    )


def settle(args: Args) -> tuple[Args, EvalTarget]:
    """The arguments with every resolved value written in (what manifests and shard settings then record), and the
    target they resolve to."""
    target = resolve_target(args)
    settled = replace(
        args,
        base_model=target.base_model,
        max_length=target.max_length,
        system_prompt=target.system_prompt,
        dtype=target.dtype,
        device=target.device,
    )
    return settled, target


def load_target(target: EvalTarget) -> tuple[PreTrainedTokenizerBase, PreTrainedModel]:
    """The tokenizer saved with the model (an adapter folder holds its own) and the model, placed and in its
    precision."""
    model = load_model(target.weights, dtype=target.dtype, adapter=target.adapter, device=target.device)
    return load_tokenizer(target.model), model
