"""Persona quality: ROUGE-L, attribute precision/recall, gold against itself, recall growing with shots."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from analysis.persona_quality import agreement, attribute_scores, main, quality_rows, stated_facts, summary
from famous_persona.errors import DataError
from famous_persona.io import DatasetDir, write_jsonl
from famous_persona.text_overlap import rouge_l
from famous_persona.world_vocab import CATEGORIES
from sampling.prefixes.build import write_prefixes
from tests.support.world import build_world

XY_METHODS = ["persona_xy_1s", "persona_xy_2s", "persona_xy_4s", "persona_xy_8s"]


def test_rouge_l_known_values():
    assert rouge_l("The cat sat.", "the CAT sat") == 1.0
    assert rouge_l("dogs bark loudly", "the cat sat") == 0.0
    assert rouge_l("", "the cat sat") == 0.0
    # LCS of "the cat sat on the mat" and "the cat lay on a mat" is "the cat on mat": 4 of 6 words each way.
    assert rouge_l("the cat sat on the mat", "the cat lay on a mat") == pytest.approx(4 / 6)
    # LCS 2 ("a c"): precision 2/3, recall 2/4, F1 = 4/7.
    assert rouge_l("a b c", "a x c y") == pytest.approx(4 / 7)


def test_attribute_scores_on_a_hand_made_text():
    vegan = CATEGORIES["diet"]["vegan"].phrase
    tennis, golf = CATEGORIES["sports"]["tennis"].phrase, CATEGORIES["sports"]["golf"].phrase
    text = f"This user {tennis}. The person {vegan}. Nothing else about them is known."
    assert stated_facts(text) == {("sports", "tennis"), ("diet", "vegan")}
    truth = {"sports": "golf", "diet": "vegan", "age": next(iter(CATEGORIES["age"]))}
    precision, recall = attribute_scores(text, truth)
    assert precision == pytest.approx(1 / 2)
    assert recall == pytest.approx(1 / 3)
    assert attribute_scores(f"This user {golf}.", truth) == (1.0, pytest.approx(1 / 3))
    precision, recall = attribute_scores("Nothing is known about this user yet.", truth)
    assert math.isnan(precision) and recall == 0.0


def test_gold_against_itself_is_perfect(world):
    frame = quality_rows(world, ["persona_gold"])
    assert len(frame) == len(world.personas())
    assert (frame["rouge_l"] == 1.0).all()
    assert frame["embedding_cosine"].to_numpy() == pytest.approx(1.0, abs=1e-5)
    assert (frame["attribute_precision"] == 1.0).all() and (frame["attribute_recall"] == 1.0).all()


def test_recall_grows_with_shots_and_files_are_written(tmp_path, capsys):
    dataset = build_world(tmp_path / "world", personal_per_person=10)  # 9 train pairs: 8 shots and a spare
    out = tmp_path / "quality.csv"
    with pytest.raises(DataError, match="famous-persona prefixes"):
        quality_rows(dataset, XY_METHODS)
    write_prefixes(dataset, XY_METHODS)
    main(["--data", str(dataset.root), "--methods", *XY_METHODS, "--out", str(out)])
    printed = capsys.readouterr().out.strip().splitlines()
    assert printed[-2].startswith("persona_xy_8s") and printed[-1].startswith("agreement with attribute recall")
    frame = pd.read_csv(out)
    recall = summary(frame)["attribute_recall"].loc[XY_METHODS].tolist()
    assert recall == sorted(recall) and recall[0] < recall[-1]
    assert frame.groupby("method").size().eq(len(dataset.personas())).all()
    assert agreement(frame)["rouge_l"] > 0.3, "more revealed facts should mean more overlap with the gold text"
    main(["--data", str(dataset.root), "--methods", "persona_xy_2s", "--out", str(out), "--fold", "0"])
    by_fold = summary(pd.read_csv(out))
    seen, unseen = by_fold.loc[("persona_xy_2s", "seen"), "people"], by_fold.loc[("persona_xy_2s", "unseen"), "people"]
    assert seen + unseen == len(dataset.personas()) and unseen == 2


def test_dataset_without_gold_is_a_clear_error(world, tmp_path):
    bare = DatasetDir(tmp_path / "bare")
    write_jsonl(bare.personas_path, [p.model_copy(update={"description": None}) for p in world.personas()])
    write_jsonl(bare.pairs_path, world.pairs())
    with pytest.raises(DataError, match="needs a reference persona per person.*has no descriptions"):
        quality_rows(bare, ["persona_xy_4s"])
    with pytest.raises(SystemExit) as exit_info:
        main(["--data", str(bare.root), "--methods", "persona_xy_4s"])
    assert exit_info.value.code == 2


def test_gold_prefix_file_stands_in_for_missing_descriptions(world, tmp_path):
    bare = DatasetDir(tmp_path / "bare")
    write_jsonl(bare.personas_path, [p.model_copy(update={"description": None}) for p in world.personas()])
    write_jsonl(bare.pairs_path, world.pairs())
    write_jsonl(bare.prefix_path("persona_gold"), world.prefixes("persona_gold"))
    frame = quality_rows(bare, ["persona_gold"])
    assert (frame["rouge_l"] == 1.0).all()


def test_any_prefix_method_can_be_the_reference(world):
    """On real data there is no ground truth: a strong model's persona is the reference, and a method compared with
    itself scores 1 on ROUGE-L and cosine."""
    frame = quality_rows(world, ["persona_xy_4s", "persona_x_4s"], reference="persona_xy_4s")
    own = frame[frame["method"] == "persona_xy_4s"]
    assert (own["rouge_l"] == 1.0).all() and (own["embedding_cosine"] > 0.999).all()
    assert (frame[frame["method"] == "persona_x_4s"]["rouge_l"] < 1.0).any()
    with pytest.raises(DataError, match="persona_bogus_ref.jsonl does not exist"):
        quality_rows(world, ["persona_xy_4s"], reference="persona_bogus_ref")
