"""Pull the final answer out of a model message, the way every SpaceTools scorer does first."""

from __future__ import annotations

_OPEN = "<answer>"
_CLOSE = "</answer>"


def extract_answer(text: str, *, wrap_untagged: bool = False) -> str | None:
    """Return the stripped content of the first ``<answer>...</answer>`` pair, or None.

    Reproduces the SpaceTools reward functions (``SpaceTools-RL:verl/utils/reward_score/*.py``,
    reconstructed in notes/benchmarks.md §0): regex ``<answer>(.*?)</answer>`` with DOTALL, first
    match, ``.strip()``. Tags are case-sensitive. Implemented with ``str.find`` so a megabyte of
    unclosed ``<answer>`` tags costs linear time; the result is identical to the regex, because if
    the first ``<answer>`` has no ``</answer>`` after it, no later one has either.

    Args:
        text: the model's message (or whole multi-turn response).
        wrap_untagged: the eval wrapper's ``--no-system-prompt`` behaviour
            (``SpaceTools-Toolshed:evals/*.py``): when the text contains no ``<answer>`` at all it
            is wrapped as ``<answer>{text}</answer>`` before extraction, so the whole (stripped)
            text, cut at a stray ``</answer>`` if there is one, becomes the answer. **UNVERIFIED**
            detail: we wrap only when ``<answer>`` is absent; a text with an unclosed
            ``<answer>`` still yields None.

    Returns:
        The answer string (possibly empty), or None when there is no complete pair. Non-string
        input yields None.

    >>> extract_answer("<think>hmm</think><answer> B </answer><answer>A</answer>")
    'B'
    >>> extract_answer("B") is None, extract_answer("B", wrap_untagged=True)
    (True, 'B')
    """
    if not isinstance(text, str):
        return None
    if wrap_untagged and _OPEN not in text:
        text = f"{_OPEN}{text}{_CLOSE}"
    start = text.find(_OPEN)
    if start < 0:
        return None
    body = start + len(_OPEN)
    end = text.find(_CLOSE, body)
    if end < 0:
        return None
    return text[body:end].strip()
