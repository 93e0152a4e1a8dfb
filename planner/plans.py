"""From `famous-persona run` options to a plan: each experiment's defaults (methods, folds, model, world), the
synthetic worlds it makes when no --data is given, and what must exist before its steps are keyed (baked prefixes,
the tiny base model)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from famous_persona import trainers
from famous_persona.errors import DataError
from famous_persona.families import family
from famous_persona.io import DatasetDir, read_json
from famous_persona.methods import is_persona_task, parse_method, released_name, split_training_set
from planner import experiments, recipes
from planner.stages import Study, packaged_base
from planner.steps import Plan

PLANS = ("cv", "axis_cv", "per_person", "faithfulness", "prompt_baseline", "vpl_cv", "demo", "claims", "real_model",
         "self_inference")  # fmt: skip
DEFAULT_METHODS = {
    "cv": ["no_prefix", "tag", "name", "xyw_2s", "persona_xy_4s", "persona_gold"],
    "faithfulness": ["persona_gold", "xyw_2s"],
    "prompt_baseline": ["no_prefix", "name", "xyw_2s", "persona_xy_4s", "persona_gold"],
    "real_model": ["no_prefix", "xyw_2s", "persona_gold"],
}
LEVELS = ["persona_r25p100", "persona_r50p100", "persona_r75p100", "persona_r100p100", "persona_r100p50"]
SMOKE_LEVELS = ["persona_r50p100", "persona_r100p100"]
WORLDS = {"axis_cv": "axes"}
SMOKE_WORLDS = {"claims": "planted_smoke"}
DEFAULT_MODEL = {"real_model": "smollm2"}
DEFAULT_JOBS = {"demo": 2, "claims": 2}


def world(size: str) -> Path:
    """A synthetic world (fictional people) from experiments/configs/worlds/<size>.yaml, made again each time: it is
    deterministic, so remaking it changes no file's content and no key."""
    data = Path(f"data/synthetic_{size}")
    recipes.quiet("sampling.world.synthetic", "--config", f"experiments/configs/worlds/{size}.yaml", "--out", str(data))
    return data


def dataset(options: Any) -> tuple[Path, bool]:
    """The --data folder (checked), or the experiment's synthetic world; and whether it was made here."""
    if options.data is not None:
        data = Path(options.data)
        if not (data / "pairs.jsonl").is_file():
            raise DataError(f"--data {data}: no pairs.jsonl there")
        return data, False
    size = SMOKE_WORLDS.get(options.plan, "smoke") if options.smoke else WORLDS.get(options.plan, "demo")
    return world(size), True


STRONG = "gpt4"
"""The strong inference model of the paper's real-data settings (experiments/configs/inference/gpt4.yaml)."""


def synthetic(data: Path) -> bool:
    """A world made by sampling.world.synthetic: the only data whose personas have a ground truth to template."""
    path = data / "manifest.json"
    return path.is_file() and read_json(path).get("stage") == "sampling.world.synthetic"


def templated(method: str) -> list[str]:
    """The parts of a training set written from the synthetic world's ground truth (a persona with no model)."""
    parts = [p for p in split_training_set(method) if not is_persona_task(p)]
    return [p for p in parts if family(parse_method(p).family).persona and parse_method(p).model is None]


def strong(method: str, data: Path) -> str:
    """A templated persona as the strong model writes it: its released texts where the data carries them (imported
    from the people file, so nothing is inferred), else inferred by the strong model."""
    inferred = f"{method}_{STRONG}"
    try:
        released = released_name(inferred)
    except DataError:
        return inferred
    return released if DatasetDir(data).prefix_path(released).is_file() else inferred


def real_methods(name: str, model: str, methods: list[str], data: Path, inference: Path) -> list[str]:
    """The paper's settings on real data: no_prefix, tag, name, xyw_2s, persona_xy_4s inferred by the trained model
    itself (where it has an inference recipe) and by the strong model, and the gold persona the strong model writes
    from the name (released with the data, or inferred); other plans get their synthetic defaults with each templated
    persona written by the strong model in the same way. `inference` is the folder of inference models."""
    if name in ("cv", "axis_cv", "per_person", "prompt_baseline"):
        own = f"persona_xy_4s_{model}"
        mine = [own] if (inference / f"{model}.yaml").is_file() else []
        return ["no_prefix", "tag", "name", "xyw_2s", *mine, f"persona_xy_4s_{STRONG}", strong("persona_gold", data)]
    return [strong(m, data) if templated(m) else m for m in methods]


def check_real(data: Path, options: Any, methods: list[str]) -> None:
    """On real data, refuse before any work what needs a synthetic world: the tiny random model by default, and
    personas templated from a ground truth the data does not have."""
    if options.model is None:
        raise DataError(
            f"--data {data} is not a synthetic world: name the model to train with --model (a recipe such as "
            "llama321b, a model folder or a hub id); the tiny random model is for synthetic worlds only"
        )
    for method in methods:
        for part in templated(method):
            raise DataError(
                f"--methods {method}: {part} is written from a synthetic world's ground truth, which {data} does not "
                f"have; on real data a model infers it: {part}_<model> (experiments/configs/inference/<model>.yaml), "
                f"e.g. {part}_{STRONG}"
            )


def study(options: Any, data: Path, out: Path, model: str, behavioural: bool, shared: Study | None = None) -> Study:
    """A study of the plan (sharing the steps and labels of `shared` where given), its packaged base model converted
    by a step of the plan where the recipe names one."""
    choice = recipes.choose(model)
    base = recipes.base_model(choice, data, out, build=False)
    trainers.trainer(options.trainer)
    if options.trainer == "vpl":
        raise DataError("command line: --trainer vpl: VPL trains on top of DPO's recipe, through its own plan "
                        "(famous-persona run vpl_cv)")  # fmt: skip
    overrides = tuple(options.inference_set or ())
    made = Study(options.plan, data, out, choice, base, options.smoke, behavioural, trainer=options.trainer,
                 inference=Path(options.inference_models), inference_set=overrides, seed=options.seed)  # fmt: skip
    return packaged_base(made.sibling(steps=shared.steps, labels=shared.labels) if shared else made)


def build(options: Any) -> tuple[Plan, list[Study], set[Path]]:
    """The plan of `options`, the studies whose data and base models must exist before it is keyed, and the data
    folders made here (all their methods are baked again)."""
    name = options.plan
    if name not in PLANS:
        raise DataError(f"command line: unknown plan {name!r}; expected one of {', '.join(PLANS)}")
    data, made = dataset(options)
    generated = {data} if made else set()
    out = Path(options.out or f"dump/{name}{'_smoke' if options.smoke else ''}")
    model = options.model or DEFAULT_MODEL.get(name, "tiny")
    methods = options.methods or DEFAULT_METHODS.get(name, DEFAULT_METHODS["cv"])
    if not synthetic(data):
        short = recipes.choose(model).short
        methods = options.methods or real_methods(name, short, methods, data, Path(options.inference_models))
        check_real(data, options, methods)
    main = study(options, data, out, model, options.behavioural or name == "demo")
    studies = [main]
    if name in ("cv", "axis_cv", "per_person"):
        scheme = {"axis_cv": "axis", "per_person": "person"}.get(name, options.scheme)
        experiments.cv(main, methods, options.folds, scheme, options.max_train_pairs or 0)
    elif name == "faithfulness":
        experiments.faithfulness(main, methods, options.folds or [0])
    elif name == "prompt_baseline":
        experiments.prompt_baseline(main, methods)
    elif name == "vpl_cv":
        experiments.vpl_cv(main, options.folds)
    elif name == "real_model":
        pairs = options.max_train_pairs if options.max_train_pairs is not None else (16 if options.smoke else 64)
        experiments.real_model(main, methods, options.fold, pairs)
    elif name == "self_inference":
        experiments.self_inference(main, options.folds or [0], options.ratio, options.tokens)
    elif name == "demo":
        real = study(options, data, out, "smollm2", False, shared=main)
        experiments.demo(main, real)
        studies.append(real)
    elif name == "claims":
        studies = claims(options, model, main, made, generated)
    plan = Plan(name, str(out), main.steps, [f"{run}\t{label}" for run, label in main.labels.items()])
    return plan, studies, generated


def claims(options: Any, model: str, main: Study, made: bool, generated: set[Path]) -> list[Study]:
    """One world serves all three claims with --smoke on a world made here; else a planted-bias world beside it."""
    quality = study(options, main.data, main.out / "quality", model, False, shared=main)
    planted = None
    if not (options.smoke and made):
        planted_data = world("planted_smoke" if options.smoke else "planted")
        generated.add(planted_data)
        planted = study(options, planted_data, main.out / "planted", model, False, shared=main)
    levels = options.levels or (SMOKE_LEVELS if options.smoke else LEVELS)
    refs = ["no_prefix"] if options.smoke else ["no_prefix", "xyw_2s"]
    experiments.claims(quality, planted, levels, refs, "persona_r100p100", options.folds or [0])
    return [quality] + ([planted] if planted else [])


def needed_methods(plan: Plan, data: Path) -> list[str]:
    """Every prefix method of `data` whose baked rows or prefixes a step of the plan reads, but those a step of the
    plan infers with a model."""
    inferred = {Path(path) for step in plan.steps if step.kind == "infer" for path in step.clear}
    methods = set()
    for step in plan.steps:
        for path in map(Path, step.inputs):
            if path.parent.parent.name == "dpo" and path.parent.parent.parent == data:
                methods.add(path.parent.name)
            elif path.parent.name == "prefixes" and path.parent.parent == data and path not in inferred:
                methods.add(path.stem)
    return sorted(methods)


def materialise(plan: Plan, studies: list[Study], generated: set[Path]) -> None:
    """Bake the prefix methods the plan reads (every one in a world made here, as the rows are deterministic) and
    build the tiny base models, so the steps can be keyed on real files."""
    for data in dict.fromkeys(s.data for s in studies):
        methods = needed_methods(plan, data)
        todo = [m for m in methods if data in generated or not (data / "dpo" / m / "train.jsonl").is_file()]
        if todo:
            build = ["--data", str(data), "--methods", *todo, *studies[0].inference_options()]
            recipes.quiet("sampling.prefixes.build", *build)
            recipes.quiet("sampling.prefixes.bake", "--data", str(data), "--methods", *todo)
    for each in studies:
        recipes.base_model(each.choice, each.data, each.out, build=True)
