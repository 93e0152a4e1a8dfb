"""The committed FamousPersona people table: 50 people, folds and axes as in the original scripts (docs/design.md
§14)."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

from analysis.bias import attributes
from famous_persona.io import read_jsonl
from famous_persona.personas import name_key
from famous_persona.schema import Persona

TABLE = Path(__file__).resolve().parents[1] / "data" / "famous_persona" / "personas.jsonl"
AXES = {
    "sports": ["David Beckham", "LeBron James", "Mike Trout", "Serena Williams", "Tiger Woods"],
    "diet": ["Halle Berry", "Jennifer Aniston", "Gwyneth Paltrow", "Megan Fox", "Ellen DeGeneres"],
    "politics": ["Donald Trump", "Bernie Sanders", "Alexandria Ocasio-Cortez", "Joe Biden", "Rand Paul"],
    "religion": ["Joel Osteen", "Mayim Bialik", "Richard Dawkins", "Richard Gere", "Zayn Malik"],
    "age": ["Barack Obama", "Billie Eilish", "Millie Bobby Brown", "Sir Ian McKellen"],
    "profession": ["Elon Musk", "Elton John", "J.K. Rowling", "Meryl Streep", "Tom Brady"],
    "geographical location": ["Beyoncé", "Daniel Radcliffe", "Elon Musk", "Oprah Winfrey", "Robert De Niro"],
    "gender": ["Barack Obama", "Chaz Bono", "Laverne Cox", "Oprah Winfrey", "Sam Smith"],
    "education level": ["Bill Clinton", "Gordon Ramsey", "Neil deGrasse Tyson", "Quentin Tarantino", "Sheryl Sandberg"],
    "AI professors": ["Latanya Sweeney", "Sebastian Thrun", "Suchi Saria", "Timnit Gebru", "Yoshua Bengio"],
    "family/marriage status": ["Barack Obama", "Jeff Bezos", "Prince Harry", "Queen Elizabeth II", "Taylor Swift"],
}
FOLD0 = {
    "Serena Williams",
    "Prince Harry",
    "Ellen DeGeneres",
    "Elon Musk",
    "Joe Biden",
    "Mayim Bialik",
    "Sir Ian McKellen",
    "Sam Smith",
    "Neil deGrasse Tyson",
    "Timnit Gebru",
}
DEMOGRAPHICS = {
    "race",
    "birth_year",
    "gender",
    "sexual_preference",
    "ethnicity",
    "family_marriage_status",
    "education_level",
    "birth_state",
    "birth_country",
    "current_state",
    "current_country",
    "profession",
    "religion",
    "political_affiliation",
    "economic_status",
    "categories",
    "category_sources",
}


def test_table_validates_and_matches_the_original_assignment():
    people = read_jsonl(TABLE, Persona, unique="name")
    assert len(people) == 50
    assert Counter(p.fold for p in people) == {k: 10 for k in range(5)}
    assert {p.name for p in people if p.fold == 0} == FOLD0
    for person in people:
        assert person.key == name_key(person.name)
        assert set(person.demographics) == DEMOGRAPHICS, person.name
        assert all(category.strip() for category in person.axes.values())
    on_axis = {axis: sorted(p.name for p in people if axis in p.axes) for axis in AXES}
    assert on_axis == {axis: sorted(names) for axis, names in AXES.items()}
    assert len({p.tag for p in people}) == 50


def test_categories_differ_within_each_axis():
    people = read_jsonl(TABLE, Persona)
    for axis in AXES:
        categories = [p.axes[axis] for p in people if axis in p.axes]
        assert len(set(categories)) == len(categories), axis


CATEGORICAL = {
    "race",
    "birth_year",
    "gender",
    "sexual_preference",
    "family_marriage_status",
    "education_level",
    "birth_region",
    "current_country",
    "religion",
    "political_affiliation",
    "economic_status",
}
SOURCE = TABLE.parent / "demographics.csv"


def test_every_person_has_every_categorical_attribute_with_its_source():
    for person in read_jsonl(TABLE, Persona):
        categories, sources = person.demographics["categories"], person.demographics["category_sources"]
        assert set(categories) == CATEGORICAL and set(sources) == CATEGORICAL, person.name
        assert set(sources.values()) <= {"original", "text"}, person.name
        assert all(value is None or isinstance(value, (str, int)) for value in categories.values()), person.name


def test_no_categorical_attribute_is_mostly_groups_of_one():
    people = read_jsonl(TABLE, Persona)
    traits = attributes(people)
    assert set(traits["attribute"]) == (CATEGORICAL - {"birth_year"}) | {"age"}
    for attribute, part in traits.groupby("attribute"):
        sizes = part["group"].value_counts()
        assert (sizes == 1).sum() * 2 <= len(sizes), (attribute, sizes.to_dict())
        assert len(sizes) >= 2, attribute


def test_categories_follow_the_committed_original_table():
    rows = {row["name"]: row for row in csv.DictReader(SOURCE.open(encoding="utf-8"))}
    assert "Copyright (c) 2025 Zilu (Peter) Tang" in SOURCE.with_suffix(".LICENSE").read_text(encoding="utf-8")
    people = read_jsonl(TABLE, Persona)
    assert set(rows) == {p.name for p in people}
    for person in people:
        categories, sources = person.demographics["categories"], person.demographics["category_sources"]
        assert categories["birth_year"] == int(rows[person.name]["birth year"])
        if sources["economic_status"] == "original":
            assert categories["economic_status"] == rows[person.name]["economic status"]
    overridden = sum(value == "text" for p in people for value in p.demographics["category_sources"].values())
    assert 0 < overridden <= 15
