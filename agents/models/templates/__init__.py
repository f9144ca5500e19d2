"""Chat templates the project ships, one Jinja file per model family (``<family>.jinja``).

``qwen2_5_vl.jinja`` is the one a real Qwen2.5-VL checkpoint needs: its stock template renders no tools
and no tool turns (a ``role="tool"`` message comes out as ``<|im_start|>tool``, its images dropped), so the
``transformers`` agent uses this one for that family. The others serve the tiny kit.
"""

from __future__ import annotations

from importlib import resources

TEMPLATES = ("qwen2_5_vl", "qwen3_vl", "llava")


def load_template(family: str) -> str:
    """The shipped chat template of ``family``.

    Raises:
        ValueError: no template is shipped for ``family`` (the shipped ones are named).
    """
    if family not in TEMPLATES:
        raise ValueError(f"no chat template shipped for {family!r}; shipped: {list(TEMPLATES)}")
    return resources.files(__name__).joinpath(f"{family}.jinja").read_text(encoding="utf-8")
