"""Yes/no and multiple-choice scorers: RoboSpatial-Home, BLINK, CV-Bench (as used by SpaceTools).

All scorers take the answer text (already pulled out of ``<answer>`` tags where the benchmark
does that, see :func:`spacetools_env.scoring.extract_answer`) and return 1.0 or 0.0.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Literal

from spacetools_env.scoring._common import check_option

YesNoRule = Literal["prefix", "exact"]
LetterRule = Literal["normalized", "exact"]

_YES_NO_RULES = ("prefix", "exact")
_LETTER_RULES = ("normalized", "exact")

# A leading option label: "A", "(A)", "A.", "A)", "A:", "A) text", "(A) text", "A is closer".
# The letter must be followed by ")", punctuation, whitespace or the end, so "Apple" is no label.
_LEADING_LETTER = re.compile(r"\(?([A-Z])(?:\)|(?=[\s.,:;]|\Z))")
_GT_LETTER = re.compile(r"\(?([A-Z])\)?")

_BLINK_LETTERS = ("A", "B", "C", "D", "E")
_BLINK_LABELS = tuple(f"({letter})" for letter in _BLINK_LETTERS)


def score_yes_no(prediction: str, ground_truth: str, *, rule: YesNoRule = "prefix") -> float:
    """Score a yes/no answer; 1.0 if correct, else 0.0.

    Args:
        prediction: the model's answer text.
        ground_truth: ``"Yes"`` or ``"No"`` (any case/whitespace); anything else scores 0.0.
        rule: ``"prefix"`` (default) is the official RoboSpatial-Home rule
            (``chanhee-luke/RoboSpatial-Eval:evaluation.py``, ``evaluate_answer``): both sides are
            stripped and lower-cased and the prediction must *start with* the ground truth, so
            ``"Yes."`` and ``"yes, it is"`` score 1.0 while ``"**Yes**"`` and ``"The answer is
            yes"`` score 0.0 (and, as a quirk of that code, ``"Nope"`` counts as "no").
            ``"exact"`` is the notes' reading of the SpaceTools reward ("binary exact match",
            ``SpaceTools-RL:.../robos_all.py``, **UNVERIFIED**): stripped, lower-cased equality.

    Raises:
        ValueError: unknown ``rule``.

    >>> score_yes_no("Yes.", "Yes"), score_yes_no("**Yes**", "Yes")
    (1.0, 0.0)
    """
    check_option("rule", rule, _YES_NO_RULES)
    if not isinstance(prediction, str) or not isinstance(ground_truth, str):
        return 0.0
    truth = ground_truth.strip().lower()
    if truth not in ("yes", "no"):
        return 0.0
    answer = prediction.strip().lower()
    correct = answer.startswith(truth) if rule == "prefix" else answer == truth
    return 1.0 if correct else 0.0


def normalize_choice_letter(text: str) -> str | None:
    """Return the option letter an answer starts with, or None (the SpaceTools-style normalisation).

    Accepts a capital letter, optionally in parentheses, followed by ``)``, ``.``, ``,``, ``:``,
    ``;``, whitespace or the end: ``"A"``, ``"(A)"``, ``"A."``, ``"A) text"``, ``"(B) B is
    closer"``. Rejects ``"Apple"``, ``"**A**"``, ``"a"`` and answers that do not start with a
    label (``"The answer is (B)"``).

    >>> normalize_choice_letter("(B) B is closer"), normalize_choice_letter("Apple")
    ('B', None)
    """
    if not isinstance(text, str):
        return None
    match = _LEADING_LETTER.match(text.strip())
    return match.group(1) if match else None


def score_choice_letter(prediction: str, ground_truth: str, *, rule: LetterRule = "normalized") -> float:
    """Score a multiple-choice letter answer (SpaceTools BLINK / CV-Bench keys); 1.0 or 0.0.

    The SpaceTools parquet stores the bare letter (``"B"``) and the wrappers score the
    ``<answer>`` content by a binary match (``SpaceTools-Toolshed:evals/blink.py``,
    ``evals/cvbench.py``; scorer ``SpaceTools-RL:.../blink_relative_depth.py``,
    ``cvbench_*.py``). The exact normalisation is **UNVERIFIED**, so both readings are offered.

    Args:
        prediction: the answer text.
        ground_truth: the gold letter, bare (``"B"``) or in the official ``"(B)"`` form.
        rule: ``"normalized"`` (default): :func:`normalize_choice_letter` of the prediction must
            equal the gold letter, so ``"B"``, ``"(B)"``, ``"B."`` and ``"B) far"`` are right.
            ``"exact"``: the stripped prediction must equal the stripped ground truth string.

    Raises:
        ValueError: unknown ``rule``.

    >>> score_choice_letter("(B)", "B"), score_choice_letter("(B)", "B", rule="exact")
    (1.0, 0.0)
    """
    check_option("rule", rule, _LETTER_RULES)
    if not isinstance(prediction, str) or not isinstance(ground_truth, str):
        return 0.0
    if rule == "exact":
        return 1.0 if prediction.strip() == ground_truth.strip() else 0.0
    gold = _GT_LETTER.fullmatch(ground_truth.strip())
    if gold is None:
        return 0.0
    return 1.0 if normalize_choice_letter(prediction) == gold.group(1) else 0.0


def blink_extract_choice(
    text: str, num_choices: int = 5, *, fallback: Callable[[str], str | None] | None = None
) -> str | None:
    """BLINK's official answer extraction (``zeyofu/BLINK_Benchmark:eval/test_benchmark.py``,
    ``analyze_answer``), with its GPT-3.5 fallback replaced by ``fallback`` (default: no match).

    In the official order:

    1. the raw text is exactly ``A``-``E`` (no stripping) -> ``"(A)"``...; this check ignores
       ``num_choices``, as upstream does;
    2. the raw text is exactly ``"(A)"``-``"(E)"`` -> kept;
    3. whitespace tokens equal to a valid label ``"(A)"``.. (the first ``num_choices``) are
       collected over the whole text and over its last ``"\\n\\n"`` paragraph; if the last
       paragraph has exactly one, it wins; else if the whole text has exactly one, it wins;
    4. otherwise upstream asks GPT-3.5 (``eval/multiple_choice.py``); here ``fallback(text)`` is
       returned if given, else None (no match, scored wrong). Note ``"The answer is (B)."`` lands
       here: its token is ``"(B)."``, not ``"(B)"``.

    Args:
        text: the raw model output.
        num_choices: how many options the question has (1-5).
        fallback: optional stand-in for the LLM matcher (e.g. a lookup table in tests).

    Returns:
        The label such as ``"(B)"`` or whatever ``fallback`` returns; None for no match.

    Raises:
        ValueError: ``num_choices`` outside 1-5.

    >>> blink_extract_choice("B"), blink_extract_choice("(A) or (B)")
    ('(B)', None)
    """
    if not isinstance(num_choices, int) or not 1 <= num_choices <= len(_BLINK_LABELS):
        raise ValueError(f"num_choices must be an int in 1..{len(_BLINK_LABELS)}, got {num_choices!r}.")
    if not isinstance(text, str):
        return None
    valid = set(_BLINK_LABELS[:num_choices])
    whole = valid.intersection(text.split())
    last = valid.intersection(text.split("\n\n")[-1].split())
    if text in _BLINK_LETTERS:
        return f"({text})"
    if text in _BLINK_LABELS:
        return text
    if (len(whole) != 1 and len(last) != 1) or not whole:
        return fallback(text) if fallback is not None else None
    return next(iter(last if len(last) == 1 else whole))


def score_blink(
    prediction: str,
    ground_truth: str,
    num_choices: int = 5,
    *,
    fallback: Callable[[str], str | None] | None = None,
) -> float:
    """Official BLINK scoring: exact match of :func:`blink_extract_choice` with the gold label.

    ``eval/evaluate.py`` compares the extracted prediction with the gold ``"(X)"`` string. The
    gold may be given bare (``"B"``, SpaceTools parquet) or as ``"(B)"`` (``val_answers.json``).

    Raises:
        ValueError: ``num_choices`` outside 1-5.

    >>> score_blink("(B)", "B"), score_blink("The answer is (B).", "(B)")
    (1.0, 0.0)
    """
    extracted = blink_extract_choice(prediction, num_choices, fallback=fallback)
    if extracted is None or not isinstance(ground_truth, str):
        return 0.0
    gold = _GT_LETTER.fullmatch(ground_truth.strip())
    if gold is None:
        return 0.0
    return 1.0 if extracted == f"({gold.group(1)})" else 0.0
