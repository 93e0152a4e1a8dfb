"""The paper's experiments as plans: each builder turns an experiment's options into the steps of planner.stages and
the analysis after them."""

from __future__ import annotations

from pathlib import Path

from famous_persona.errors import DataError
from famous_persona.methods import scored_methods
from planner.stages import (
    Study,
    aggregate,
    analysis_step,
    behave,
    fold_indices,
    persona_quality,
    prompt_only,
    recipe_options,
    run_name,
    score,
    scoring,
    train,
    training_options,
    warmup,
)
from planner.steps import Step


def trained_and_scored(study: Study, method: str, fold: int, scheme: str, tests: list[str], label: str,
                       extra: list[str] | None = None) -> Step:  # fmt: skip
    trained = train(study, method, fold, scheme, extra)
    study.labels[trained.run] = label
    for test in tests:
        behave(study, score(study, trained, method, test, fold, scheme), f"{trained.out}/model", method, fold, scheme)
    return trained


def cv(study: Study, methods: list[str], folds: list[int] | None, scheme: str, max_train_pairs: int = 0) -> None:
    """Cross-validation over people: one model per (method, fold), scored with each of its prefix methods; trained on
    `max_train_pairs` of the fold's train pairs where that is above 0, for a short rehearsal."""
    subset = ["--max_train_pairs", str(max_train_pairs)] if max_train_pairs > 0 else []
    for fold in fold_indices(study, scheme, folds):
        for method in methods:
            label = f"{scheme} {fold} {method}"
            trained_and_scored(study, method, fold, scheme, scored_methods(method), label, subset)
    aggregate(study, "cv")


def faithfulness(study: Study, methods: list[str], folds: list[int]) -> None:
    """Each model scored with its own prefix, a re-sampled one, another person's and none."""
    for fold in fold_indices(study, "fold", folds):
        for method in methods:
            tests = [method, f"{method}_seed1", f"shuffle_{method}", "no_prefix"]
            trained_and_scored(study, method, fold, "fold", tests, f"fold {fold} {method}")
    aggregate(study, "faithfulness")


def prompt_baseline(study: Study, methods: list[str]) -> None:
    for method in methods:
        prompt_only(study, method)
    aggregate(study, "prompt_baseline")


def vpl_cv(study: Study, folds: list[int] | None) -> None:
    """The VPL baseline per fold: the no_prefix run's SFT warm-up where the recipe has one (one step, shared with cv
    in the same folder) -> VPL -> scores with z from each person's own train pairs."""
    recipe = study.choice.file("vpl")
    if recipe is None:
        raise DataError(f"no VPL recipe for '{study.choice.short}': {study.choice.recipe / 'vpl.yaml'}")
    for fold in fold_indices(study, "fold", folds):
        sft = warmup(study, "no_prefix", fold, "fold")
        start = f"{sft.out}/model" if sft else study.base
        run = run_name(study, "vpl", "no_prefix", fold, "fold")
        out = study.run_dir(run)
        dpo = study.choice.recipe / "dpo.yaml"
        args = ["--config", str(dpo), *recipe_options(recipe), "--data", str(study.data), "--fold", str(fold)]
        args += ["--output_dir", str(out), "--model_name_or_path", start, *training_options(study, "vpl")]
        trained = study.add(
            Step(
                f"{run}/vpl", run, "train", "training.vpl", args, str(out), str(out / "manifest.json"),
                str(out / "run.log"), recipes=[str(dpo), str(recipe)], inputs=study.inputs("no_prefix", "train"),
                deps=[sft.name] if sft else study.base_deps(), models=[] if sft else study.base_models(), launch=True,
            ),
            f"fold {fold} vpl",
        )  # fmt: skip
        score(study, trained, "vpl", "no_prefix", fold, "fold")
    aggregate(study, "vpl_cv")


def tests_for(method: str) -> list[str]:
    """A persona model is scored with its own prefix, another person's and none; any other with its own."""
    return [method, f"shuffle_{method}", "no_prefix"] if method.startswith("persona_") else [method]


def claims(quality: Study, planted: Study | None, levels: list[str], refs: list[str], accurate: str,
           folds: list[int]) -> None:  # fmt: skip
    """The paper's three claims: models at set persona quality levels (and the references) in one world, an
    accurate persona and the references in a planted-bias world (or the same world with --smoke), then the claims."""
    worlds = [(quality, [*levels, *refs, accurate])] if planted is None else [
        (quality, [*levels, *refs]), (planted, [accurate, *refs])]  # fmt: skip
    for study, methods in worlds:
        for fold in fold_indices(study, "fold", folds):
            for method in dict.fromkeys(methods):
                trained_and_scored(
                    study, method, fold, "fold", tests_for(method), f"{study.out.name} fold {fold} {method}"
                )
        aggregate(study, f"claims_{study.out.name}")
    last = planted or quality
    args = ["--quality_dir", str(quality.out), "--quality_data", str(quality.data), "--planted_dir", str(last.out)]
    args += ["--planted_data", str(last.data), "--out", str(quality.out.parent / "report"), "--persona", accurate]
    analysis_step(last, "claims", "claims", "analysis.claims", args, quality.out.parent / "report" / "claims.html")


def real_model(study: Study, methods: list[str], fold: int, max_train_pairs: int) -> None:
    """A real model on a CPU: prompt-only with each prefix, LoRA DPO per method on a subset of the fold's train
    pairs, scored; then the model infers every persona from 4 shots, and its quality is set beside the template's."""
    for method in methods:
        prompt_only(study, method)
    subset = ["--max_train_pairs", str(max_train_pairs)] if max_train_pairs > 0 else []
    for method in methods:
        trained_and_scored(
            study, method, fold, "fold", scored_methods(method), f"LoRA DPO fold {fold} {method}", subset
        )
    inferred = f"persona_xy_4s_{study.choice.short}"
    infer(study, "persona_xy_4s", [inferred], study.inference, study.base_deps())
    study.labels[f"{study.choice.short}/inference"] = f"persona inference by {study.choice.short} from 4 shots"
    aggregate(study, "real_model")
    persona_quality(study, "real_model", ["persona_xy_4s", inferred], study.out / f"persona_quality_fold{fold}.csv",
                    fold)  # fmt: skip


def infer(study: Study, shots: str, methods: list[str], models: Path, deps: list[str], run: str | None = None) -> Step:
    """Prefixes inferred by the models in `models` (one YAML per model, cached replies under <data>/cache); the
    templated `shots` method is built beside them, as the quality check compares against it."""
    names = [shots, *methods]
    written = [str(study.dataset.prefix_path(m)) for m in methods]
    recipes = sorted(str(p) for p in models.glob("*.yaml") if any(m.endswith(f"_{p.stem}") for m in methods))
    run = run or f"{study.choice.short}/inference"
    return study.add(
        Step(
            f"{run}/{'+'.join(methods)}", run, "infer", "sampling.prefixes.build",
            ["--data", str(study.data), "--methods", *names, *study.inference_options(models)], str(study.data),
            written[-1], str(study.out / "inference.log"), recipes=recipes,
            inputs=[str(study.dataset.personas_path), str(study.dataset.pairs_path)], deps=deps, force=[],
            clear=written,
        )
    )  # fmt: skip


def self_inference(study: Study, folds: list[int], ratio: str, tokens: int) -> None:
    """The small model as its own inference model: trained on persona_xy_4s rows mixed with the persona task,
    re-inferring its prefixes after every epoch; then it and the untrained base infer everyone's persona."""
    train_set = f"persona_xy_4s+persona_task_4s_from_persona_gold_ratio{ratio}"
    models = study.out / "inference"
    write_inference_model(models / "base.yaml", study.base, tokens)
    refresh = ["--refresh_every", "1", "--refresh_method", "persona_xy_4s", "--refresh_max_new_tokens", str(tokens)]
    for fold in fold_indices(study, "fold", folds):
        trained = train(study, train_set, fold, "fold", refresh)
        study.labels[trained.run] = f"fold {fold}: trained with persona refresh"
        score(study, trained, train_set, "persona_xy_4s", fold, "fold")
        write_inference_model(models / f"self{fold}.yaml", f"{trained.out}/model", tokens)
        infer(study, "persona_xy_4s", ["persona_xy_4s_base", f"persona_xy_4s_self{fold}"], models, [trained.name],
              f"{trained.run}/inference")  # fmt: skip
        quality = ["persona_xy_4s", "persona_xy_4s_base", f"persona_xy_4s_self{fold}"]
        persona_quality(study, "self_inference", quality, study.out / f"persona_quality_fold{fold}.csv", fold)
    aggregate(study, "self_inference")


def write_inference_model(path: Path, model: str, tokens: int) -> None:
    """An inference-model YAML for sampling.prefixes.build: the model in-process, greedy, `tokens` new tokens."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = f"model: {model}\nbackend: transformers\nmax_tokens: {tokens}\nbatch_size: 32\n"
    if not path.is_file() or path.read_text() != text:
        path.write_text(text)


DEMO_METHODS = ["xyw_2s", "persona_gold", "persona_xy_4s", "no_prefix"]  # longest first: two workers end together
# SmolLM2 prompt-only: xyw at 1, 2 and 4 shots gives the report's accuracy-against-shots figure a line.
DEMO_REAL = ["xyw_4s", "xyw_2s", "persona_xy_4s", "persona_gold", "xyw_1s", "name", "no_prefix"]


def demo(study: Study, real: Study) -> None:
    """The offline demo: four tiny-model prefixes trained, scored and their unseen people's responses judged; then
    a prompt-only baseline from the no_prefix warm-up, a faithfulness probe, a sentence attribution, and SmolLM2
    untrained on two test pairs a person; the tables, persona quality and the report."""
    trained = {}
    for method in DEMO_METHODS:
        trained[method] = train(study, method, 0, "fold")
        study.labels[trained[method].run] = f"{method}: SFT warm-up + DPO + scoring + behaviour"
        scored = score(study, trained[method], method, method, 0, "fold")
        behave(study, scored, f"{trained[method].out}/model", method, 0, "fold", ["--people", "unseen"])
    for method in DEMO_REAL:
        prompt_only(real, method, ["--pairs_per_person", "2"])
    attribution(study, trained["persona_gold"], "persona_gold")
    warm = trained["no_prefix"].out + "/sft"
    for method in DEMO_METHODS:
        run = f"tiny/none/{method}"
        identity = ["--fold", "0", "--train_method", "none"]
        out = study.out / "tiny" / "none" / "eval" / method
        scoring(study, f"tiny/none/score/{method}", run, f"{warm}/model", out, method, identity,
                [f"{trained['no_prefix'].run}/sft"], [], f"{out}.log")  # fmt: skip
        study.labels[run] = f"prompt-only {method} (no_prefix SFT warm-up, no DPO)"
    probe = trained["persona_xy_4s"]
    for test in ["persona_xy_4s_seed1", "shuffle_persona_xy_4s", "no_prefix"]:
        score(study, probe, "persona_xy_4s", test, 0, "fold", f"{probe.run}/probe/{test}")
        study.labels[f"{probe.run}/probe/{test}"] = f"faithfulness probe, persona_xy_4s model with {test}"
    aggregate(study, "demo")
    quality = ["persona_xy_1s", "persona_xy_2s", "persona_xy_4s"]
    persona_quality(study, "demo", quality, study.out / "analysis" / "persona_quality.csv")
    analysis_step(
        study,
        "demo",
        "aggregate_world_judge",
        "analysis.aggregate",
        ["--experiment_dir", str(study.out), "--metric", "gen_world_aligned"],
        study.out / "results.csv",
    )
    analysis_step(study, "demo", "report", "analysis.report", ["--experiment_dir", str(study.out), "--data",
                  str(study.data)], study.out / "report" / "index.html")  # fmt: skip


def attribution(study: Study, trained: Step, method: str) -> Step:
    """Which sentences of the model's own prefixes move its preference on people it never saw: 16 test pairs of the
    fold's held-out people, dealt one per person in turn, 32 ablations each; the system turn and maximum length are
    the trained run's, read by analysis.attribution from its manifest."""
    out = Path(trained.out) / "attribution" / method
    args = ["--model", f"{trained.out}/model", "--data", str(study.data), "--test_method", method]
    args += ["--people", "unseen", "--max_pairs", "16", "--n_ablations", "32"]
    run = f"{trained.run}/attribution"
    return study.add(
        Step(
            f"{run}/{method}", run, "attribution", "analysis.attribution", args, str(out), str(out / "summary.json"),
            f"{out}.log", inputs=study.inputs(method, "test"), deps=[trained.name], force=[],
            clear=[str(out / "summary.json")],
        ),
        f"attribution of the {method} model's prefix sentences",
    )  # fmt: skip
