"""Dataset statistics on a hand-made dataset with planted leakage and known disagreement."""

from __future__ import annotations

from analysis.dataset_stats import dataset_stats
from famous_persona.io import write_jsonl


def _pair(pid, name, prompt, chosen, rejected, split, question_type="divergent"):
    return {
        "id": pid,
        "name": name,
        "prompt": prompt,
        "chosen": chosen,
        "rejected": rejected,
        "question_type": question_type,
        "axis": "politics" if question_type == "divergent" else None,
        "split": split,
    }


def _dataset(root):
    people = [
        {"name": n, "key": n.lower(), "axes": {"politics": c}, "fold": 0, "tag": f"t{n}"}
        for n, c in (("A", "left"), ("B", "right"), ("C", "left"))
    ]
    pairs = [
        _pair("a1", "A", "Tax?", "raise it now", "cut", "test"),
        _pair("b1", "B", "tax? ", "cut", "raise it now", "test"),
        _pair("c1", "C", "Tax?", "raise it now", "cut", "test"),
        _pair("a2", "A", "Tax?", "raise it now", "cut", "train"),
        _pair("a3", "A", "Hobby?", "chess", "golf club", "train", "personal"),
    ]
    write_jsonl(root / "personas.jsonl", people)
    write_jsonl(root / "pairs.jsonl", pairs)
    write_jsonl(
        root / "prefixes" / "xyw_1s.jsonl",
        [
            {
                "name": "A",
                "method": "xyw_1s",
                "text": "Question: Hobby? Preferred answer: chess",
                "shots": ["a3"],
                "model": "template",
            },
            {"name": "B", "method": "xyw_1s", "text": "one two", "shots": ["b1"], "model": "template"},
        ],
    )
    return root


def test_tables(tmp_path):
    tables = dataset_stats(_dataset(tmp_path / "data"), tmp_path / "out")
    leakage = tables["leakage"].set_index("check")["count"]
    assert leakage["test question in the same person's train split"] == 1
    assert leakage["test question in anyone's train split"] == 3
    assert leakage["prefixes/xyw_1s.jsonl rows with a test pair among their shots"] == 1
    disagreement = tables["disagreement"].iloc[0]
    # four rows share the question; the two of person A are not compared with each other: 6 - 1 pairs
    assert disagreement["person_pairs"] == 5
    assert disagreement["reversed"] == disagreement["chosen_differs"] == 3 / 5
    lengths = tables["answer_lengths"].set_index("question_type")
    assert lengths.loc["personal", "chosen_longer"] == 0.0
    assert tables["prefix_lengths"].iloc[0]["max_words"] == 5
    counts = tables["counts"].set_index("name")
    assert counts.loc["A", "divergent/train"] == 1 and counts.loc["B", "divergent/test"] == 1
    assert sorted(p.name for p in (tmp_path / "out").iterdir())[0] == "dataset_answer_lengths.csv"
