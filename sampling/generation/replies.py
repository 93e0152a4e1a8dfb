"""What each stage takes from a reply, why a reply gives nothing (the words the reports count), and the stated rule
for a reply cut at the token cap (`CUT_RULES`, docs/generation.md). A reply a stage cannot use is asked again with a
new seed (docs/design.md §7.1); the judge's own re-asks of ties and unreadable verdicts are new samples instead.
"""

from __future__ import annotations

from famous_persona import judge_prompts
from famous_persona.llm.backend import CUT, EMPTY, Completion, refused
from sampling.generation import prompts

NO_LIST = "no list"
NO_ANSWER = "no answer"
NO_VERDICT = "no verdict"
REFUSED = "refused"
MIN_ANSWER_WORDS = 8
CUT_RULES = {
    "questions": "kept: the questions complete before the cut count (a cut numbered list loses its last line)",
    "candidates": f"kept when the answer, trimmed to its last full sentence, still has {MIN_ANSWER_WORDS} words; "
    "otherwise asked again",
    "judge": "kept when the verdict is already written; otherwise asked again",
    "persona proposals": "asked again (cut JSON does not parse)",
}


def _unparsed(completion: Completion, missing: str) -> str:
    """Why a reply with nothing to take is unusable: empty, refused, cut, or simply without what was asked."""
    if not completion.text.strip():
        return EMPTY
    if refused(completion.text):
        return REFUSED
    return CUT if completion.cut else missing


def questions(completion: Completion) -> list[str]:
    """The questions a writer's reply gives under the cut rule."""
    if completion.cut and prompts.parse_list(completion.text):
        return prompts.parse_list(completion.text)[:-1]
    return prompts.parse_questions(completion.text)


def question_problem(completion: Completion) -> str | None:
    return None if questions(completion) else _unparsed(completion, NO_LIST)


def answer(completion: Completion, kind: str | None, open_type: bool) -> str:
    """A candidate's answer under the cut rule ('' when none): after the user-type reasoning of the open format, or
    the reply itself for an answer written for a given kind of user; leaked mentions of the kind are removed."""
    if open_type:
        text = prompts.parse_candidate(completion.text)[1] or ""
    else:
        text = prompts.clean_leak(prompts.parse_answer(completion.text), kind)
    if completion.cut:
        text = prompts.trim_to_sentence(text)
        return text if len(text.split()) >= MIN_ANSWER_WORDS else ""
    return text


def candidate_check(open_type: bool):
    """The check of a candidate reply, for the open format (reason, user type, answer) or an answer for a kind."""

    def problem(completion: Completion) -> str | None:
        return None if answer(completion, None, open_type) else _unparsed(completion, NO_ANSWER)

    return problem


def verdict(completion: Completion | None, style: str) -> int | None:
    """1 or 2 (the answer shown first or second), or None when the reply names neither."""
    if completion is None or not completion.text.strip():
        return None
    parse = judge_prompts.parse_letter if style == "small" else judge_prompts.parse_verdict
    return parse(completion.text)


def judge_check(style: str):
    """Why a judge reply gives no verdict (None when it gives one, cut or not)."""

    def problem(completion: Completion) -> str | None:
        return None if verdict(completion, style) else _unparsed(completion, NO_VERDICT)

    return problem


def judge_accept(style: str):
    """Which judge replies are final. A complete reply is final even without a verdict: the judge asks a new sample
    then (its attempts), so a rerun replays the knockout from the cache; an empty reply, or one cut before its
    verdict, is asked again with a new seed."""

    def final(completion: Completion) -> bool:
        if not completion.text.strip():
            return False
        return not completion.cut or verdict(completion, style) is not None

    return final
