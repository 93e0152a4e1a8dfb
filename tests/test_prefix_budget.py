"""The token budget per prefix: whole shots go before any text is cut, cuts land on token boundaries, and every drop
and cut is counted in the manifest."""

from __future__ import annotations

import pytest

from famous_persona.families import format_xyw
from famous_persona.io import read_json
from sampling.prefixes import build as prefixes
from sampling.prefixes.budget import TokenBudget
from sampling.prefixes.build import build_prefixes, write_prefixes
from tests.support.world import build_world


@pytest.fixture(scope="module")
def budget_world(tmp_path_factory):
    return build_world(tmp_path_factory.mktemp("budget"))


def test_shots_are_dropped_before_text_is_cut(budget_world, tiny_model):
    people, pairs = budget_world.personas(), budget_world.pairs()
    by_id = {pair.id: pair for pair in pairs}
    full = {(p.name, p.pair_id): p for p in build_prefixes("xyw_4s", people, pairs)}
    budget = TokenBudget(str(tiny_model), 90)
    fitted = build_prefixes("xyw_4s", people, pairs, budget=budget)
    counts = budget.report()
    assert counts["shots_dropped"] > 0
    for prefix in fitted:
        original = full[(prefix.name, prefix.pair_id)]
        assert budget.length(prefix.text) <= 90
        assert prefix.shots == original.shots[: len(prefix.shots)]
        if len(prefix.shots) > 1 or budget.length(original.text) <= 90:
            assert prefix.text == format_xyw([by_id[i] for i in prefix.shots], with_rejected=False)
    cut = [p for p in fitted if p.text != format_xyw([by_id[i] for i in p.shots], with_rejected=False)]
    assert len(cut) == counts["texts_cut"]
    assert all(len(p.shots) == 1 for p in cut)


def test_personas_keep_their_shots_and_are_cut_on_a_token_boundary(budget_world, tiny_model):
    people, pairs = budget_world.personas(), budget_world.pairs()
    full = {(p.name, p.pair_id): p for p in build_prefixes("persona_xy_4s", people, pairs)}
    budget = TokenBudget(str(tiny_model), 12)
    for prefix in build_prefixes("persona_xy_4s", people, pairs, budget=budget):
        original = full[(prefix.name, prefix.pair_id)]
        assert prefix.shots == original.shots
        assert original.text.startswith(prefix.text)
        assert budget.length(prefix.text) == min(12, budget.length(original.text))
    assert budget.report()["texts_cut"] > 0


def test_counts_reach_the_manifest_and_the_cli_needs_a_tokenizer(budget_world, tiny_model):
    write_prefixes(budget_world, ["xywyl_2s_bm25"], budget=TokenBudget(str(tiny_model), 60))
    step = read_json(budget_world.manifest_path)["prefixes"]["xywyl_2s_bm25"]
    assert step["budget"]["max_tokens"] == 60 and step["budget"]["over_budget"] > 0
    with pytest.raises(SystemExit) as stop:
        prefixes.main(["--data", str(budget_world.root), "--methods", "xyw_2s", "--max_prefix_tokens", "50"])
    assert stop.value.code == 2
