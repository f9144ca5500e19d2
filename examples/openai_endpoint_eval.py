"""Evaluate an OpenAI-compatible endpoint on a suite: ``spacetools eval --agent openai`` from Python, with its usage.

Any chat-completions server works (vLLM, SGLang, ``transformers serve``, a hosted API; the key, if one is
needed, in ``$OPENAI_API_KEY``). Offline, serve the kit's tiny checkpoint first::

    python -m agents.models.tiny --family qwen2_5_vl --out /tmp/tiny-qwen
    transformers serve /tmp/tiny-qwen --host 127.0.0.1 --port 8000 &
    python examples/openai_endpoint_eval.py --base-url http://127.0.0.1:8000/v1 --model /tmp/tiny-qwen

It plays the suite (``--batch-size`` episodes in lockstep, their requests sent together), writes the
usual run folder, and prints the headline metrics and the tokens the endpoint reported.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

from benchmarks.eval import EvalConfig, run_eval


def evaluate(base_url: str, model: str, suite: str, out: Path, episodes: int, batch_size: int,
             max_tokens: int | None) -> dict[str, int]:
    """Run the suite into ``out``; returns the requests and tokens summed over its records."""
    kwargs = {"base_url": base_url, "model": model, **({"max_tokens": max_tokens} if max_tokens else {})}
    config = EvalConfig(agent="openai", agent_kwargs=kwargs, suite=suite, out=out, episodes=episodes,
                        batch_size=batch_size, progress=False)
    summary = run_eval(config, log=print)
    totals = dict.fromkeys(("agent_requests", "agent_prompt_tokens", "agent_completion_tokens"), 0)
    for line in (out / "results.jsonl").read_text(encoding="utf-8").splitlines():
        timing = json.loads(line)["timing"]
        for name in totals:
            totals[name] += int(timing.get(name, 0))
    print(f"{'complete' if summary.complete else 'incomplete'}: {totals['agent_requests']} requests, "
          f"{totals['agent_prompt_tokens']} prompt and {totals['agent_completion_tokens']} completion tokens")
    return totals


def main(argv: Sequence[str] | None = None) -> dict[str, int]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", required=True, help="the API root, e.g. http://127.0.0.1:8000/v1")
    parser.add_argument("--model", required=True, help="the request's model field")
    parser.add_argument("--suite", default="SpaceTools-Synth-RelativeDepth-v0")
    parser.add_argument("--out", type=Path, default=Path("runs/openai"))
    parser.add_argument("--episodes", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--max-tokens", type=int, default=32, help="new tokens per turn (0: the server's default)")
    args = parser.parse_args(argv)
    return evaluate(args.base_url, args.model, args.suite, args.out, args.episodes, args.batch_size, args.max_tokens)


if __name__ == "__main__":
    main()
