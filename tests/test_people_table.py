"""The committed FamousPersona people table: 50 people, folds and axes as in the original scripts (SPEC §7)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

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
FOLD0 = {"Serena Williams", "Prince Harry", "Ellen DeGeneres", "Elon Musk", "Joe Biden", "Mayim Bialik",
         "Sir Ian McKellen", "Sam Smith", "Neil deGrasse Tyson", "Timnit Gebru"}  # fmt: skip
DEMOGRAPHICS = {
    "race", "birth_year", "gender", "sexual_preference", "ethnicity", "family_marriage_status", "education_level",
    "birth_state", "birth_country", "current_state", "current_country", "profession", "religion",
    "political_affiliation", "economic_status",
}  # fmt: skip


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
