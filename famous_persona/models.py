"""Load a model and tokenizer (hub id or local dir, LoRA adapter, dtype, quantization); build the tiny local model."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import torch
from accelerate import PartialState
from huggingface_hub import try_to_load_from_cache
from huggingface_hub.constants import is_offline_mode
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    LlamaConfig,
    LlamaForCausalLM,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    PreTrainedTokenizerFast,
)
from trl import ModelConfig, get_quantization_config

from famous_persona.errors import DataError, exit_on_data_error

BOS, EOS, PAD, UNK = "<s>", "</s>", "<pad>", "<unk>"
ROLE_TOKENS = ["<|system|>", "<|user|>", "<|assistant|>"]
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}<|{{ message['role'] }}|>\n{{ message['content'] }}{{ eos_token }}\n"
    "{% endfor %}{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
MODEL_FILES = ("config.json", "adapter_config.json")
TOKENIZER_FILES = ("tokenizer_config.json", "tokenizer.json", *MODEL_FILES)
HUB_ID = re.compile(r"^[\w.-]+(/[\w.-]+)?$")


@dataclass(frozen=True)
class TinyShape:
    """Shape of the random-init Llama used on CPU; a few hundred thousand to a few million parameters."""

    hidden_size: int = field(default=128, metadata={"help": "Width of the residual stream."})
    intermediate_size: int = field(default=384, metadata={"help": "Width of the feed-forward layers."})
    num_hidden_layers: int = field(default=2, metadata={"help": "Transformer layers."})
    num_attention_heads: int = field(default=4, metadata={"help": "Attention heads (as many key/value heads)."})
    max_position_embeddings: int = field(default=512, metadata={"help": "Longest sequence, in tokens."})


def train_word_tokenizer(texts: Iterable[str]) -> PreTrainedTokenizerFast:
    """A lower-cased word-level tokenizer over the dataset's own text, with a chat template. Ids follow the sorted
    words, not their counts, so baking one more prefix method with the same words leaves the model unchanged."""
    core = Tokenizer(models.WordLevel(unk_token=UNK))
    core.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    special = [PAD, UNK, BOS, EOS, *ROLE_TOKENS]
    core.train_from_iterator(texts, trainers.WordLevelTrainer(special_tokens=special, min_frequency=1))
    words = sorted(set(core.get_vocab()) - set(special))
    core.model = models.WordLevel({token: i for i, token in enumerate([*special, *words])}, unk_token=UNK)
    return PreTrainedTokenizerFast(
        tokenizer_object=core,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        unk_token=UNK,
        additional_special_tokens=ROLE_TOKENS,
        chat_template=CHAT_TEMPLATE,
        model_max_length=TinyShape().max_position_embeddings,
    )


def build_tiny_model(
    texts: Iterable[str],
    out_dir: Path | str,
    seed: int = 0,
    shape: TinyShape = TinyShape(),
    model_class: type[PreTrainedModel] = LlamaForCausalLM,
    **config_extra: object,
) -> Path:
    """Train the tokenizer, build a random-init Llama of `shape` (a causal LM, or e.g. a sequence classifier with
    `num_labels`), save both with `save_pretrained`."""
    tokenizer = train_word_tokenizer(texts)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=shape.hidden_size,
        intermediate_size=shape.intermediate_size,
        num_hidden_layers=shape.num_hidden_layers,
        num_attention_heads=shape.num_attention_heads,
        num_key_value_heads=shape.num_attention_heads,
        max_position_embeddings=shape.max_position_embeddings,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        **config_extra,
    )
    torch.manual_seed(seed)
    model = model_class(config)
    out_dir = Path(out_dir)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return out_dir


def check_model_source(name_or_path: str | Path, files: tuple[str, ...] = MODEL_FILES) -> None:
    """A model (or tokenizer) is a folder holding one of `files`, or a hub id; offline, a hub id must already be in
    the local cache. Saying so at once replaces the hub client's long retry traceback."""
    name = str(name_or_path)
    path = Path(name)
    if path.exists():
        if not any((path / file).is_file() for file in files):
            raise DataError(f"{path}: not a model folder (it holds none of {', '.join(files)})")
        return
    if not HUB_ID.match(name):
        raise DataError(f"{name}: no such model folder")
    if is_offline_mode() and not any(isinstance(try_to_load_from_cache(name, file), str) for file in files):
        raise DataError(
            f"{name}: no such model folder, and no hub model of that id in the local cache while HF_HUB_OFFLINE is "
            "set; give a model folder, or download the model first"
        )


def load_tokenizer(name_or_path: str | Path) -> PreTrainedTokenizerBase:
    check_model_source(name_or_path, TOKENIZER_FILES)
    tokenizer = AutoTokenizer.from_pretrained(str(name_or_path))
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def is_adapter(path: str | Path) -> bool:
    return (Path(path) / "adapter_config.json").is_file()


def process_state() -> PartialState:
    """This process's place among launched processes and its device, the one source of device placement: gloo
    between CPU processes, the local GPU otherwise."""
    return PartialState(cpu=not torch.cuda.is_available())


def bf16_supported() -> bool:
    """Whether this machine's accelerator computes in bfloat16: the default precision of training and scoring."""
    return torch.cuda.is_available() and torch.cuda.is_bf16_supported()


def resolve_dtype(dtype: str | torch.dtype | None) -> torch.dtype:
    """`auto` (or none) is bfloat16 where the accelerator supports it and float32 on the CPU, for training and scoring
    alike."""
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype in (None, "auto"):
        return torch.bfloat16 if bf16_supported() else torch.float32
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be auto or one of {sorted(DTYPES)}, got {dtype!r}")
    return DTYPES[dtype]


@dataclass(frozen=True)
class Placement:
    """Where an in-process model runs and the precision of its weights."""

    device: torch.device
    dtype: torch.dtype


def best_device() -> torch.device:
    """This process's GPU when CUDA sees one (under a launcher, the GPU accelerate gives this rank), else the CPU."""
    return process_state().device if torch.cuda.is_available() else torch.device("cpu")


def placement(dtype: str | torch.dtype | None = "auto", device: str | torch.device | None = "auto") -> Placement:
    """The one device and precision policy for models loaded in-process (persona inference, attribution, reward
    filtering, embeddings, VPL histories): `auto` device is `best_device()`; `auto` dtype is bfloat16 on a GPU that
    computes in it and float32 anywhere else (a CPU, or an older GPU). A named device or dtype is taken as given."""
    where = best_device() if device in (None, "auto") else torch.device(device)
    if dtype in (None, "auto") and where.type == "cpu":
        return Placement(where, torch.float32)
    return Placement(where, resolve_dtype(dtype))


def model_init_kwargs(model_config: ModelConfig, trust_remote_code: bool = False) -> dict[str, Any]:
    """`from_pretrained` arguments from every loading field of TRL's ModelConfig (revision, attention, dtype and the
    bitsandbytes options through TRL's own `get_quantization_config`)."""
    dtype = resolve_dtype(model_config.dtype)
    kwargs: dict[str, Any] = {
        "dtype": dtype,
        "revision": model_config.model_revision,
        "attn_implementation": model_config.attn_implementation,
        "trust_remote_code": trust_remote_code,
    }
    quantization = get_quantization_config(replace(model_config, dtype=dtype))
    if quantization is not None and not torch.cuda.is_available():
        bits = "load_in_4bit" if model_config.load_in_4bit else "load_in_8bit"
        raise DataError(
            f"{bits}: quantized loading (QLoRA through bitsandbytes) needs a CUDA GPU and none is visible; "
            f"add --{bits} false to train the LoRA adapter on unquantized weights"
        )
    if quantization is not None:
        kwargs["quantization_config"] = quantization
        kwargs["device_map"] = {"": process_state().local_process_index}
    return kwargs


def load_model(
    name_or_path: str | Path,
    dtype: str | torch.dtype | None = "float32",
    quantization: str | None = None,
    adapter: str | Path | None = None,
    device: str | torch.device | None = None,
    **init_kwargs: Any,
) -> PreTrainedModel:
    """A causal LM from a hub id or a local dir; `adapter` (or an adapter dir as `name_or_path`) adds LoRA weights;
    `quantization` is '4bit' or '8bit' through bitsandbytes (GPU only); `init_kwargs` (see `model_init_kwargs`) go
    to `from_pretrained` and win over `dtype` and `quantization`. `device` None leaves the model where loading put
    it (a trainer moves it itself); `auto` or a named device places it by `placement`, which then also settles an
    `auto` dtype."""
    check_model_source(name_or_path)
    where = placement(dtype, device) if device is not None else None
    dtype = where.dtype if where is not None else dtype
    if adapter is None and is_adapter(name_or_path):
        from peft import PeftConfig

        adapter, name_or_path = name_or_path, PeftConfig.from_pretrained(str(name_or_path)).base_model_name_or_path
    if quantization not in (None, "4bit", "8bit"):
        raise ValueError(f"quantization must be '4bit' or '8bit', got {quantization!r}")
    shorthand = ModelConfig(dtype=dtype, load_in_4bit=quantization == "4bit", load_in_8bit=quantization == "8bit")
    kwargs = {**model_init_kwargs(shorthand), **init_kwargs}
    model = AutoModelForCausalLM.from_pretrained(str(name_or_path), **kwargs)
    if adapter is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, str(adapter))
    if where is not None and "device_map" not in kwargs:
        model = model.to(where.device)
    return model.eval()


def dataset_texts(data: str | Path) -> list[str]:
    """Every text of a dataset's baked files: the vocabulary of a word-level tokenizer (no labels are used)."""
    from famous_persona.io import DatasetDir

    dataset = DatasetDir(data)
    texts = []
    for path in sorted((dataset.root / "dpo").glob("*/*.jsonl")):
        method, split = path.parent.name, path.stem
        for record in dataset.dpo(method, split):
            texts += [m.content for m in (*record.prompt, *record.chosen, *record.rejected)]
    if not texts:
        raise DataError(
            f"{dataset.root / 'dpo'}: no baked files to build a tokenizer from; run sampling.prefixes.bake first"
        )
    return texts


@dataclass(frozen=True)
class TinyArguments(TinyShape):
    """The tiny model's shape (TinyShape's fields) plus where its text comes from and where it goes."""

    data: str = field(default="data/synthetic", metadata={"help": "Dataset whose baked text trains the tokenizer."})
    out: str = field(default="dump/tiny-base", metadata={"help": "Where the model and tokenizer are saved."})
    seed: int = field(default=0, metadata={"help": "Initialisation seed."})


def make_parser(subparsers=None):
    from famous_persona.config import stage_parser

    return stage_parser("tiny-model", [TinyArguments], "Build the tiny local model from a dataset's text.", subparsers)


@exit_on_data_error
def main(args: list[str] | None = None, parser=None) -> None:
    from famous_persona.config import parse_config

    (tiny,) = parse_config(parser or make_parser(), args)
    shape = TinyShape(**{f.name: getattr(tiny, f.name) for f in fields(TinyShape)})
    out = build_tiny_model(dataset_texts(tiny.data), tiny.out, tiny.seed, shape)
    print(f"built the tiny model in {out}")


if __name__ == "__main__":
    main()
