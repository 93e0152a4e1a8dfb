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
NO_USER_TYPE = "no user type"
REFUSED = "refused"
MIN_ANSWER_WORDS = 8
CUT_RULES = {
    "questions": "kept: the questions complete before the cut count (a cut numbered list loses its last line)",
    "candidates": f"kept when the answer, trimmed to its last full sentence, still has {MIN_ANSWER_WORDS} words; "
    "otherwise asked again",
    "drafts": "kept when the user type is already written; otherwise asked again",
    "judge": "kept when the verdict is already written (copy form: read from the words before the cut); otherwise "
    "asked again",
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


def draft_problem(completion: Completion) -> str | None:
    """Why a two-phase draft names no kind of user (None when it names one, cut or not)."""
    return None if prompts.parse_user_type(completion.text) else _unparsed(completion, NO_USER_TYPE)


def verdict(completion: Completion | None, judge_format: str, first: str = "", second: str = "") -> int | None:
    """1 or 2 (the answer shown first or second), or None when the reply names neither; the copy form needs the two
    answers it was shown."""
    if completion is None or not completion.text.strip():
        return None
    if judge_format == "copy":
        return judge_prompts.parse_copy(completion.text, first, second)
    parse = judge_prompts.parse_letter if judge_format == "letter" else judge_prompts.parse_verdict
    return parse(completion.text)


def _readable(completion: Completion, judge_format: str) -> bool:
    """Whether a reply can hold a verdict: one that names it (reasoned, letter), or any text but a refusal (copy,
    whose verdict is read against the two answers when the comparison is settled)."""
    if judge_format == "copy":
        return bool(completion.text.strip()) and not refused(completion.text)
    return verdict(completion, judge_format) is not None


def judge_check(judge_format: str):
    """Why a judge reply gives no verdict (None when it gives one, cut or not)."""

    def problem(completion: Completion) -> str | None:
        return None if _readable(completion, judge_format) else _unparsed(completion, NO_VERDICT)

    return problem


def judge_accept(judge_format: str):
    """Which judge replies are final. A complete reply is final even without a verdict: the judge asks a new sample
    then (its attempts), so a rerun replays the knockout from the cache; an empty reply, or one cut before its
    verdict, is asked again with a new seed."""

    def final(completion: Completion) -> bool:
        if not completion.text.strip():
            return False
        return not completion.cut or _readable(completion, judge_format)

    return final


def _batch_readable(completion: Completion) -> bool:
    return any(v is not None for v in judge_prompts.parse_batch(completion.text, 64))


def batch_check():
    """Why a batched judge reply gives no verdict at all (None when it gives at least one, cut or not)."""

    def problem(completion: Completion) -> str | None:
        return None if _batch_readable(completion) else _unparsed(completion, NO_VERDICT)

    return problem


def batch_accept():
    """A batched reply is final when complete, or cut after at least one verdict line (as for one comparison)."""

    def final(completion: Completion) -> bool:
        return bool(completion.text.strip()) and (not completion.cut or _batch_readable(completion))

    return final
