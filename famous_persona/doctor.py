"""`famous-persona doctor`: can this machine run the paper's GPU recipes? One line per fact (GPUs and their memory,
bf16, the torch build, the training libraries, hub access and token, which recipe models are already on disk, free
disk), then a summary. Exit status 1 when something would make a GPU run fail, 0 otherwise; `--json` prints the same
as one JSON object. Nothing is downloaded; the hub is asked about gated models only when HF_HUB_OFFLINE is unset.

Usage: `famous-persona doctor [--models llama321b zephyr7b] [--json true] [--min_free_gb 30]`.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import yaml
from huggingface_hub import HfApi, get_token, try_to_load_from_cache
from huggingface_hub import constants as hub_constants
from huggingface_hub.constants import is_offline_mode
from trl import TrlParser

from famous_persona.config import Subparsers, parse_config, stage_parser
from famous_persona.errors import DataError, exit_on_data_error
from famous_persona.models import HUB_ID

RECIPES = Path("experiments/configs/models")
LOCAL_MODELS = Path("models")
LIBRARIES = ("transformers", "trl", "peft", "accelerate", "datasets")
# Asked of the hub when it can be reached; offline, these recipe models are known to need an accepted licence.
KNOWN_GATED = {
    "meta-llama/Llama-3.2-1B-Instruct",
    "meta-llama/Llama-3.2-3B-Instruct",
    "mistralai/Ministral-8B-Instruct-2410",
}
WEIGHT_SUFFIXES = (".safetensors", ".bin")
GIB = 2**30


@dataclass
class Check:
    """One line of the report: `fail` would stop a GPU run, `warn` would slow or change it, `ok` and `info` not."""

    name: str
    status: str
    detail: str
    data: dict[str, Any] = field(default_factory=dict)

    def line(self) -> str:
        return f"{self.status:<4} {self.name}: {self.detail}"


@dataclass
class DoctorArguments:
    models: list[str] = field(
        default_factory=list,
        metadata={"help": "Recipes to check (experiments/configs/models/<name>); default: every one naming a model."},
    )
    json: bool = field(default=False, metadata={"help": "Print one JSON object instead of lines."})
    min_free_gb: float = field(
        default=30.0, metadata={"help": "Free disk (GiB) below which the hub cache or dump/ fails the check."}
    )


@dataclass(frozen=True)
class Recipe:
    """A model recipe and the model it trains, with the loading options that need extra software."""

    name: str
    model: str
    four_bit: bool


def gpu_check() -> Check:
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if count == 0:
        return Check(
            "gpu", "fail", "none visible to torch; every recipe of the paper trains on a CUDA GPU", {"count": 0}
        )
    cards = []
    for index in range(count):
        properties = torch.cuda.get_device_properties(index)
        cards.append({"index": index, "name": properties.name, "memory_gib": round(properties.total_memory / GIB, 1)})
    listed = ", ".join(f"{card['index']}: {card['name']} {card['memory_gib']} GiB" for card in cards)
    return Check("gpu", "ok", f"{count} ({listed})", {"count": count, "devices": cards})


def bf16_check() -> Check:
    if not torch.cuda.is_available():
        return Check("bf16", "warn", "unknown without a GPU; recipes fall back to float32 (twice the memory)", {})
    if torch.cuda.is_bf16_supported():
        return Check("bf16", "ok", "supported (dtype auto trains and scores in bfloat16)", {"supported": True})
    detail = "not supported by this GPU; dtype auto falls back to float32 (twice the memory, slower)"
    return Check("bf16", "warn", detail, {"supported": False})


def torch_check() -> Check:
    data = {"torch": torch.__version__, "cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version()}
    if torch.version.cuda is None:
        detail = f"{torch.__version__}, a CPU-only build; a GPU run needs a CUDA build of torch"
        return Check("torch", "fail", detail, data)
    return Check("torch", "ok", f"{torch.__version__}, CUDA {torch.version.cuda}, cuDNN {data['cudnn']}", data)


def version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def libraries_check() -> Check:
    found = {package: version(package) for package in LIBRARIES}
    missing = [package for package, found_version in found.items() if found_version is None]
    listed = ", ".join(f"{package} {found_version}" for package, found_version in found.items() if found_version)
    if missing:
        return Check("libraries", "fail", f"{listed}; missing: {', '.join(missing)}", found)
    return Check("libraries", "ok", listed, found)


def bitsandbytes_check(recipes: list[Recipe]) -> Check:
    installed = version("bitsandbytes")
    quantized = [recipe.name for recipe in recipes if recipe.four_bit]
    if installed:
        return Check("bitsandbytes", "ok", f"{installed} (4-bit QLoRA)", {"version": installed})
    if quantized:
        detail = f"not installed, and {', '.join(quantized)} load in 4 bit (pip install bitsandbytes)"
        return Check("bitsandbytes", "fail", detail, {"version": None, "needed_by": quantized})
    return Check("bitsandbytes", "info", "not installed (only needed for 4-bit QLoRA)", {"version": None})


def hub_check() -> Check:
    offline = is_offline_mode()
    if offline:
        return Check("hub", "info", "HF_HUB_OFFLINE is set: only models already on disk can load", {"offline": True})
    endpoint = hub_constants.ENDPOINT
    return Check("hub", "info", f"online ({endpoint}); missing models are downloaded", {"offline": False})


def token_check() -> Check:
    """Whether huggingface_hub finds a token (environment or `hf auth login`), never the token itself."""
    if get_token() is None:
        return Check("token", "warn", "none configured: gated models cannot be downloaded", {"configured": False})
    source = "HF_TOKEN" if os.environ.get("HF_TOKEN") else "the stored login"
    return Check("token", "ok", f"configured (from {source})", {"configured": True})


def read_recipes(root: Path, names: list[str]) -> list[Recipe]:
    """The recipes that name a model (those of every folder, or of `names`); an unknown name is bad input."""
    known = sorted(path.parent.name for path in root.glob("*/dpo.yaml"))
    unknown = [name for name in names if name not in known]
    if unknown:
        raise DataError(f"command line: --models {unknown[0]}: no such recipe in {root} (known: {', '.join(known)})")
    recipes = []
    for name in names or known:
        settings = yaml.safe_load((root / name / "dpo.yaml").read_text(encoding="utf-8")) or {}
        if settings.get("model_name_or_path"):
            recipes.append(Recipe(name, str(settings["model_name_or_path"]), bool(settings.get("load_in_4bit"))))
    return recipes


def cached_snapshot(model: str) -> Path | None:
    """The hub cache's snapshot folder of a model whose config and weights are both there."""
    config = try_to_load_from_cache(model, "config.json")
    if not isinstance(config, str):
        return None
    snapshot = Path(config).parent
    return snapshot if any(path.name.endswith(WEIGHT_SUFFIXES) for path in snapshot.iterdir()) else None


def folder_size_gib(folder: Path) -> float:
    return round(sum(path.stat().st_size for path in folder.iterdir() if path.is_file()) / GIB, 2)


def local_copy(model: str) -> Path | None:
    """A model folder under models/ named after the hub id (as `famous-persona fetch-model` writes them)."""
    short = model.split("/")[-1]
    for name in (short, short.lower()):
        if (LOCAL_MODELS / name / "config.json").is_file():
            return LOCAL_MODELS / name
    return None


def hub_gated(model: str) -> bool:
    """Whether the hub says the model needs an accepted licence; offline, the known list answers."""
    if is_offline_mode():
        return model in KNOWN_GATED
    try:
        return bool(HfApi().model_info(model, timeout=10, token=False).gated)
    except Exception:  # the hub unreachable or the id unknown: fall back to what is known
        return model in KNOWN_GATED


def hub_access(model: str) -> str | None:
    """None when the configured token may download a gated model, else why not."""
    if get_token() is None:
        return "gated, and no token is configured (accept the licence on the hub, then `hf auth login`)"
    if is_offline_mode():
        return None
    try:
        HfApi().auth_check(model)
    except Exception as error:  # GatedRepoError, RepositoryNotFoundError, or the hub unreachable
        return f"gated, and the configured token has no access ({type(error).__name__})"
    return None


def model_check(recipe: Recipe) -> Check:
    name, model = f"model {recipe.name}", recipe.model
    if not HUB_ID.match(model) or Path(model).exists():
        if (Path(model) / "config.json").is_file():
            return Check(name, "ok", f"{model} (local folder)", {"model": model, "on_disk": True})
        return Check(name, "fail", f"{model}: no such model folder", {"model": model, "on_disk": False})
    found = local_copy(model) or cached_snapshot(model)
    if found is not None:
        detail = f"{model} on disk ({folder_size_gib(found)} GiB in {found})"
        return Check(name, "ok", detail, {"model": model, "on_disk": True})
    data = {"model": model, "on_disk": False}
    if is_offline_mode():
        return Check(name, "fail", f"{model} not in the hub cache or models/, and HF_HUB_OFFLINE is set", data)
    problem = hub_access(model) if hub_gated(model) else None
    if problem:
        return Check(name, "fail", f"{model} not on disk; {problem}", data)
    return Check(name, "ok", f"{model} not on disk; it will be downloaded", data)


def disk_check(minimum_gib: float) -> Check:
    """Free space where models are cached and where runs are written."""
    places = {"hub cache": Path(hub_constants.HF_HUB_CACHE), "dump": Path("dump")}
    free = {}
    for label, place in places.items():
        existing = next(path for path in (place, *place.parents, Path.cwd()) if path.exists())
        free[label] = round(shutil.disk_usage(existing).free / GIB, 1)
    listed = ", ".join(f"{free[label]} GiB at {label} ({places[label]})" for label in places)
    short = [label for label, gib in free.items() if gib < minimum_gib]
    if short:
        return Check("disk", "fail", f"{listed}; under {minimum_gib:g} GiB at {', '.join(short)}", free)
    return Check("disk", "ok", listed, free)


def run_checks(args: DoctorArguments) -> list[Check]:
    recipes = read_recipes(RECIPES, args.models) if RECIPES.is_dir() else []
    checks: list[Callable[[], Check]] = [
        gpu_check,
        bf16_check,
        torch_check,
        libraries_check,
        lambda: bitsandbytes_check(recipes),
        hub_check,
        token_check,
    ]
    results = [check() for check in checks]
    if not RECIPES.is_dir():
        results.append(Check("recipes", "warn", f"{RECIPES} not found; run from the repository root", {}))
    results += [model_check(recipe) for recipe in recipes]
    return [*results, disk_check(args.min_free_gb)]


def summary(checks: list[Check]) -> str:
    failed = [check.name for check in checks if check.status == "fail"]
    if failed:
        return f"doctor: {len(failed)} problem(s) would fail a GPU run: {', '.join(failed)}"
    warned = [check.name for check in checks if check.status == "warn"]
    return "doctor: ready for a GPU run" + (f" (warnings: {', '.join(warned)})" if warned else "")


def make_parser(subparsers: Subparsers | None = None) -> TrlParser:
    return stage_parser("doctor", [DoctorArguments], __doc__, subparsers)


@exit_on_data_error
def main(args: list[str] | None = None, parser: TrlParser | None = None) -> None:
    (options,) = parse_config(parser or make_parser(), args)
    checks = run_checks(options)
    ready = not any(check.status == "fail" for check in checks)
    if options.json:
        report = {"ready": ready, "summary": summary(checks), "checks": [asdict(check) for check in checks]}
        print(json.dumps(report, indent=2))
    else:
        print("\n".join([*(check.line() for check in checks), summary(checks)]))
    sys.stdout.flush()
    raise SystemExit(0 if ready else 1)


if __name__ == "__main__":
    main()
