"""DIRL, the paper's training recipe, on TRL (needs the ``train`` extra).

The four steps (``../docs`` and :mod:`agents.dirl.pipeline`): 0. a short SFT of the base model on the
answer format alone (the tiny stand-in for an instruction-tuned VLM); 1. interactive GRPO with the
pointing tool only; 2. trace collection (correct policy episodes mixed with teacher episodes);
3. SFT on those traces; 4. interactive multi-turn GRPO with all tools. Each step is a function taking
its own frozen config (:mod:`agents.dirl.sft`, :mod:`agents.dirl.grpo`, :mod:`agents.dirl.collect`);
:mod:`agents.dirl.common` holds what they share (metrics lines, config files, checkpoints).
"""
