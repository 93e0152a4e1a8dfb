"""The paper's experiments as plans: each builder turns an experiment's options into its steps (warm-up, training,
scoring with each test prefix, responses and their judges) and the analysis after them. Run paths and step names are
`<model>/<train_method>/<scheme><fold>/...`, so steps shared by two experiments in one folder are one step."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from famous_persona.config import load_yaml
from famous_persona.errors import DataError
from famous_persona.io import DatasetDir
from famous_persona.methods import scored_methods
from famous_persona.personas import axis_folds
from planner.recipes import ModelChoice
from planner.steps import Plan, Step

SMOKE_EPOCHS = {"sft": "4", "dpo": "1", "vpl": "1"}


@dataclass
class Study:
    """What every plan of one invocation shares: the dataset, the experiment folder, the base model and options."""

    name: str
    data: Path
    out: Path
    choice: ModelChoice
    base: str
    smoke: bool = False
    behavioural: bool = False
    steps: list[Step] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def dataset(self) -> DatasetDir:
        return DatasetDir(self.data)

    def add(self, step: Step) -> Step:
        if all(s.name != step.name for s in self.steps):
            self.steps.append(step)
        return step

    def base_models(self) -> list[str]:
        """The base weights, digested into the key of every step that starts from them."""
        return [self.base]

    def inputs(self, method: str, split: str) -> list[str]:
        return [str(self.dataset.personas_path), str(self.dataset.dpo_path(method, split))]

    def run_dir(self, run: str) -> Path:
        return self.out / run


def fold_count(study: Study, scheme: str) -> int:
    people = study.dataset.personas()
    return {"fold": len({p.fold for p in people}), "axis": len(axis_folds(people)), "person": len(people)}[scheme]


def fold_indices(study: Study, scheme: str, given: list[int] | None = None) -> list[int]:
    """The folds given, each checked against the scheme; else all of them (the first two with --smoke)."""
    count = fold_count(study, scheme)
    if given is None:
        return list(range(min(count, 2) if study.smoke else count))
    wrong = [fold for fold in given if not 0 <= fold < count]
    if wrong:
        raise DataError(
            f"command line: --folds {wrong[0]}: the {scheme} scheme of {study.data} has folds 0..{count - 1}"
        )
    return given


def epochs(study: Study, trainer: str) -> list[str]:
    return ["--num_train_epochs", SMOKE_EPOCHS[trainer]] if study.smoke else []


def warmup(study: Study, method: str, fold: int, scheme: str) -> Step | None:
    """The SFT warm-up of a (method, fold) run, when the model's recipe has one."""
    recipe = study.choice.file("sft")
    if recipe is None:
        return None
    run = f"{study.choice.short}/{method}/{scheme}{fold}"
    out = study.run_dir(run) / "sft"
    args = ["--config", str(recipe), "--data", str(study.data), "--method", method, "--fold", str(fold)]
    args += ["--fold_scheme", scheme, "--output_dir", str(out), "--model_name_or_path", study.base]
    return study.add(
        Step(
            f"{run}/sft", run, "warmup", "training.sft", args + epochs(study, "sft"), str(out),
            str(out / "manifest.json"), str(study.run_dir(run) / "run.log"), recipes=[str(recipe)],
            inputs=study.inputs(method, "train"), models=study.base_models(), launch=True,
        )
    )  # fmt: skip


def train(study: Study, method: str, fold: int, scheme: str, extra: list[str] | None = None) -> Step:
    """SFT warm-up (where the recipe has one), then DPO from it, for one (method, fold)."""
    run = f"{study.choice.short}/{method}/{scheme}{fold}"
    out = study.run_dir(run)
    sft = warmup(study, method, fold, scheme)
    start = f"{sft.out}/model" if sft else study.base
    recipe = study.choice.recipe / "dpo.yaml"
    args = ["--config", str(recipe), "--data", str(study.data), "--method", method, "--fold", str(fold)]
    args += ["--fold_scheme", scheme, "--output_dir", str(out), "--model_name_or_path", start]
    args += [*epochs(study, "dpo"), *(extra or [])]
    return study.add(
        Step(
            f"{run}/dpo", run, "train", "training.dpo", args, str(out), str(out / "manifest.json"),
            str(out / "run.log"), recipes=[str(recipe)], inputs=study.inputs(method, "train"),
            models=[] if sft else study.base_models(), deps=[sft.name] if sft else [], launch=True,
        )
    )  # fmt: skip


def score(
    study: Study, trained: Step, train_method: str, test_method: str, fold: int, scheme: str, run: str | None = None
) -> Step:
    """A trained run's model (its warm-up as the reference) scored with one test prefix."""
    run = run or trained.run
    out = Path(trained.out) / "eval" / test_method
    recipe = study.choice.recipe / "eval.yaml"
    args = ["--config", str(recipe), "--model", f"{trained.out}/model"]
    warm = next((s for s in study.steps if s.name in trained.deps and s.kind == "warmup"), None)
    if warm is not None:
        args += ["--ref_model", f"{warm.out}/model"]
    args += ["--data", str(study.data), "--test_method", test_method, "--fold", str(fold), "--fold_scheme", scheme]
    args += ["--out", str(out), "--experiment", study.out.name, "--model_short", study.choice.short]
    args += ["--train_method", train_method]
    return study.add(
        Step(
            f"{trained.run}/score/{test_method}", run, "score", "evaluation.score", args, str(out),
            str(out / "summary.json"), str(Path(trained.out) / "run.log"), recipes=[str(recipe)],
            inputs=study.inputs(test_method, "test"), deps=[trained.name],
            clear=[str(out / "summary.json"), str(out / "scores.jsonl"), str(out / "manifest.json")],
        )
    )  # fmt: skip


def behave(study: Study, scored: Step, model: str, train_method: str, test_method: str, fold: int, scheme: str,
           extra: list[str] | None = None) -> None:  # fmt: skip
    """With --behavioural, a response per test question (batch size and dtype of eval.yaml, the text settings of
    training) and every judge that applies to it."""
    if not study.behavioural:
        return
    out = scored.out
    recipe = study.choice.recipe / "eval.yaml"
    args = ["--config", str(recipe), "--model", model, "--data", str(study.data), "--test_method", test_method]
    args += ["--fold", str(fold), "--fold_scheme", scheme, "--out", out, "--experiment", study.out.name]
    args += ["--model_short", study.choice.short, "--train_method", train_method]
    args += study.choice.text_settings("max_length", "system_prompt") + (extra or [])
    base = scored.name.rsplit("/score/", 1)[0]
    generated = study.add(
        Step(
            f"{base}/generate/{test_method}", scored.run, "generate", "evaluation.generate", args, out,
            f"{out}/generations_manifest.json", scored.log, recipes=[str(recipe)], inputs=scored.inputs,
            deps=list(scored.deps), models=list(scored.models),
            clear=[f"{out}/generations_manifest.json", f"{out}/generations.jsonl"],
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
    """The base model, untrained, scored with one prefix under the text settings its training would use."""
    run = f"{study.choice.short}/none"
    out = study.run_dir(run) / "eval" / test_method
    recipe = study.choice.recipe / "eval.yaml"
    args = ["--config", str(recipe), "--model", study.base, "--data", str(study.data), "--test_method", test_method]
    args += ["--fold", "-1", "--out", str(out), "--experiment", study.out.name, "--model_short", study.choice.short]
    args += ["--train_method", "none", *study.choice.text_settings("beta", "max_length", "system_prompt")]
    scored = study.add(
        Step(
            f"{run}/score/{test_method}", f"{run}/{test_method}", "score", "evaluation.score", args + (extra or []),
            str(out), str(out / "summary.json"), str(study.run_dir(run) / "run.log"),
            recipes=[str(recipe), str(study.choice.recipe / "dpo.yaml")],
            inputs=study.inputs(test_method, "test"), models=study.base_models(),
            clear=[str(out / "summary.json"), str(out / "scores.jsonl"), str(out / "manifest.json")],
        )
    )  # fmt: skip
    behave(study, scored, study.base, "none", test_method, -1, "fold")
    return scored


def analysis(study: Study, plan: str) -> None:
    """results.csv and the table from every score of the folder; with --behavioural, reward vs behaviour."""
    scored = [s.name for s in study.steps if s.kind in ("score", "judge")]
    log = str(study.out / "analysis.log")
    study.add(
        Step(
            f"analysis/{plan}/aggregate", "analysis", "analysis", "analysis.aggregate",
            ["--experiment_dir", str(study.out)], str(study.out), str(study.out / "results.csv"), log,
            deps=scored, force=[],
        )
    )  # fmt: skip
    if study.behavioural:
        study.add(
            Step(
                f"analysis/{plan}/behaviour", "analysis", "analysis", "analysis.behaviour",
                ["--experiment_dir", str(study.out)], str(study.out),
                str(study.out / "analysis" / "behaviour_correlation.csv"), log, deps=[f"analysis/{plan}/aggregate"],
                force=[],
            )
        )  # fmt: skip


def trained_and_scored(study: Study, method: str, fold: int, scheme: str, tests: list[str], label: str) -> None:
    trained = train(study, method, fold, scheme)
    study.labels[trained.run] = label
    for test in tests:
        scored = score(study, trained, method, test, fold, scheme)
        behave(study, scored, f"{trained.out}/model", method, test, fold, scheme)


def cv(study: Study, methods: list[str], folds: list[int] | None, scheme: str) -> None:
    """Cross-validation over people: one model per (method, fold), scored with each of its prefix methods."""
    for fold in fold_indices(study, scheme, folds):
        for method in methods:
            trained_and_scored(study, method, fold, scheme, scored_methods(method), f"{scheme} {fold} {method}")


def faithfulness(study: Study, methods: list[str], folds: list[int]) -> None:
    """Each model scored with its own prefix, a re-sampled one, another person's and none."""
    for fold in fold_indices(study, "fold", folds):
        for method in methods:
            tests = [method, f"{method}_seed1", f"shuffle_{method}", "no_prefix"]
            trained_and_scored(study, method, fold, "fold", tests, f"fold {fold} {method}")


def prompt_baseline(study: Study, methods: list[str]) -> None:
    for method in methods:
        scored_methods(method)
        prompt_only(study, method)
        study.labels[f"{study.choice.short}/none/{method}"] = f"prompt-only {study.choice.short} {method}"


def vpl_cv(study: Study, folds: list[int] | None) -> None:
    """The VPL baseline per fold: the no_prefix run's SFT warm-up (one step, shared with cv in the same folder) ->
    VPL -> scores with z from each person's own train pairs."""
    recipe = study.choice.file("vpl")
    if recipe is None:
        raise DataError(f"no VPL recipe for '{study.choice.short}': {study.choice.recipe / 'vpl.yaml'}")
    for fold in fold_indices(study, "fold", folds):
        sft = warmup(study, "no_prefix", fold, "fold")
        if sft is None:
            raise DataError(f"no SFT recipe for '{study.choice.short}': VPL starts from the no_prefix warm-up")
        run = f"{study.choice.short}/vpl/fold{fold}"
        out = study.run_dir(run)
        dpo = study.choice.recipe / "dpo.yaml"
        args = ["--config", str(dpo), *recipe_options(recipe), "--data", str(study.data), "--fold", str(fold)]
        args += ["--output_dir", str(out), "--model_name_or_path", f"{sft.out}/model", *epochs(study, "vpl")]
        trained = study.add(
            Step(
                f"{run}/vpl", run, "train", "training.vpl", args, str(out), str(out / "manifest.json"),
                str(out / "run.log"), recipes=[str(dpo), str(recipe)], inputs=study.inputs("no_prefix", "train"),
                deps=[sft.name], launch=True,
            )
        )  # fmt: skip
        score(study, trained, "vpl", "no_prefix", fold, "fold")
        study.labels[run] = f"fold {fold} vpl"


def recipe_options(path: Path) -> list[str]:
    """A small recipe's keys as options on top of the shared one (vpl.yaml on dpo.yaml)."""
    return [item for key, value in load_yaml(path)[0].items() for item in (f"--{key}", str(value))]


BUILDERS: dict[str, Callable[..., None]] = {
    "cv": cv,
    "faithfulness": faithfulness,
    "prompt_baseline": prompt_baseline,
    "vpl_cv": vpl_cv,
}


def finish(study: Study, plan: str) -> Plan:
    analysis(study, plan)
    return Plan(plan, str(study.out), study.steps)
