"""What a record's actions imply, found by the env's own parser, and where the record claims otherwise.

The env decides everything about an episode's course from the actions alone (see
:meth:`spacetools_env.env.SpaceToolsEnv.step`): the first ``<answer>`` ends it (``terminated``);
otherwise ``max_turns`` turns end it (``truncated``); a turn without an answer runs its first
``max_calls_per_turn`` parsed calls, and each parse problem (and each call past the cap) is one
invalid action. So the validator runs :func:`~spacetools_env.parsing.plan_turn`, the function
``step`` itself plays, over the recorded actions with the run's limits and rebuilds every count
the aggregation reads (turns, ``terminated``/``truncated``, invalid actions, tool calls and tool
statistics) instead of
trusting the record's. Only whether a call succeeded and what it printed need the tools
themselves: the recorded ``ok`` flags are taken as written (a call to a tool the env does not
have always fails), and ``validate --replay`` checks them by replaying the episode.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spacetools_env.episode_json import jsonable
from spacetools_env.parsing import MAX_ACTION_CHARS, ToolCallRequest, plan_turn

UNKNOWN_TOOL = "<unknown>"
"""The env pools calls to names it has no tool for under this ``by_tool`` key."""
MAX_CALL_PROBLEMS = 3
"""Tool-call differences reported per record (then their count)."""


@dataclass(frozen=True)
class Limits:
    """The run's episode limits, from the rebuilt env's config."""

    max_turns: int
    max_calls_per_turn: int
    max_action_chars: int = MAX_ACTION_CHARS


@dataclass(frozen=True)
class ImpliedEpisode:
    """An episode as the env plays its actions."""

    answer: str | None
    """The last action's answer (what is scored)."""
    early_answer: int | None
    """The first action before the last that already answers (the env would have ended there)."""
    calls: tuple[tuple[ToolCallRequest, ...], ...]
    """Per turn, the calls the env runs (none on an answering turn, at most ``max_calls_per_turn``)."""
    invalid_actions: int
    terminated: bool
    truncated: bool


def implied_episode(actions: Sequence[Any], limits: Limits) -> ImpliedEpisode:
    """Parse every action as :meth:`SpaceToolsEnv.step` does and count what the env would."""
    answers: list[str | None] = []
    calls: list[tuple[ToolCallRequest, ...]] = []
    invalid = 0
    for action in actions:
        parsed = plan_turn(action, limits.max_calls_per_turn, max_chars=limits.max_action_chars)
        answers.append(parsed.answer)
        invalid += len(parsed.errors)
        calls.append(parsed.calls)
    early = next((i for i, answer in enumerate(answers[:-1]) if answer is not None), None)
    answer = answers[-1] if answers else None
    terminated = answer is not None
    return ImpliedEpisode(
        answer=answer,
        early_answer=early,
        calls=tuple(calls),
        invalid_actions=invalid,
        terminated=terminated,
        truncated=not terminated and len(actions) >= limits.max_turns,
    )


def used_tools(episode: ImpliedEpisode, tool_names: Collection[str]) -> set[str]:
    """The env's tools the episode calls (names it has no tool for are not tools)."""
    return {call.name for turn in episode.calls for call in turn if call.name in tool_names}


def action_problems(
    record: dict[str, Any], episode: ImpliedEpisode, limits: Limits, tool_names: Collection[str]
) -> list[str]:
    """Every field of ``record`` that disagrees with what its actions imply, each naming the rule."""
    turns = len(record["trajectory"]["actions"])
    problems = _course_problems(record, episode, limits, turns)
    if record["invalid_actions"] != episode.invalid_actions:
        problems.append(
            f"invalid_actions is {_short(record['invalid_actions'])} but the actions hold {episode.invalid_actions} "
            f"(parse errors, and calls past max_calls_per_turn={limits.max_calls_per_turn}, as the env counts them)"
        )
    call_problems = _call_problems(record["trajectory"]["tool_calls"], episode, tool_names)
    problems += call_problems
    if not call_problems:  # the statistics are only comparable once the calls match the actions
        problems += _stats_problems(record["tools"], record["trajectory"]["tool_calls"], tool_names)
    return problems


def _course_problems(record: dict[str, Any], episode: ImpliedEpisode, limits: Limits, turns: int) -> list[str]:
    """Turns, the answer, ``terminated`` and ``truncated`` against the env's rules."""
    problems = []
    if turns == 0:
        problems.append("the trajectory has no actions; every episode has at least one turn")
    if turns > limits.max_turns:
        problems.append(
            f"the trajectory has {turns} actions but the run's max_turns is {limits.max_turns}: "
            f"the env ends an episode after {limits.max_turns} turns"
        )
    if episode.early_answer is not None:
        problems.append(
            f"action {episode.early_answer} already answers, yet the episode went on; the first answer ends it"
        )
    if record["answer"] != episode.answer:
        problems.append(
            f"answer {_short(record['answer'])} is not the <answer> of the last action ({_short(episode.answer)})"
        )
    if record["terminated"] != episode.terminated:
        has = "has" if episode.terminated else "has no"
        problems.append(f"terminated is {record['terminated']} but the last action {has} answer")
    if record["truncated"] != episode.truncated:
        why = (
            "an answered episode is terminated, not truncated" if episode.terminated
            else f"the env truncates exactly when max_turns={limits.max_turns} turns pass without an answer"
        )
        problems.append(f"truncated is {record['truncated']} after {turns} turns; {why}")
    if not episode.terminated and 0 < turns < limits.max_turns:
        problems.append(
            f"the episode never ended: {turns} turns without an answer, short of max_turns={limits.max_turns} "
            "(a run stopped mid-episode? re-run the same spacetools eval command to replay it)"
        )
    return problems


def _call_problems(
    recorded: list[list[dict[str, Any]]], episode: ImpliedEpisode, tool_names: Collection[str]
) -> list[str]:
    """``trajectory.tool_calls`` against the calls the env runs for each action."""
    if len(recorded) != len(episode.calls):
        return [
            f"trajectory.tool_calls has {len(recorded)} turns but there are {len(episode.calls)} actions "
            "(one list of calls per turn, empty when the turn made none)"
        ]
    problems = []
    for turn, (calls, written) in enumerate(zip(episode.calls, recorded, strict=True)):
        if len(written) != len(calls):
            problems.append(
                f"trajectory.tool_calls[{turn}] holds {len(written)} calls but action {turn} makes {len(calls)} "
                "(the env runs every parsed call up to max_calls_per_turn, none on an answering turn)"
            )
            continue
        for number, (call, entry) in enumerate(zip(calls, written, strict=True)):
            where = f"trajectory.tool_calls[{turn}][{number}]"
            if entry.get("name") != call.name or entry.get("arguments") != jsonable(call.arguments):
                problems.append(
                    f"{where} is {_short(entry.get('name'))} with arguments {_short(entry.get('arguments'))}, but "
                    f"action {turn} calls {call.name!r} with {_short(jsonable(call.arguments))}"
                )
            elif call.name not in tool_names and entry.get("ok") is not False:
                problems.append(
                    f"{where} calls {call.name!r}, which the env has no tool for, yet is recorded ok; "
                    "such a call always fails"
                )
    if len(problems) > MAX_CALL_PROBLEMS:  # one record, one story: the first few, then a count
        more = len(problems) - MAX_CALL_PROBLEMS
        summary = f"and {more} more turns or calls of trajectory.tool_calls differ from what the actions make"
        problems = [*problems[:MAX_CALL_PROBLEMS], summary]
    return problems


def _stats_problems(
    tools: dict[str, Any], recorded: list[list[dict[str, Any]]], tool_names: Collection[str]
) -> list[str]:
    """``tools`` (calls, errors, by_tool) against the calls (and their recorded ``ok``)."""
    by_tool: dict[str, dict[str, int]] = {}
    for entry in (entry for turn in recorded for entry in turn):
        name = entry["name"] if entry["name"] in tool_names else UNKNOWN_TOOL
        stats = by_tool.setdefault(name, {"calls": 0, "errors": 0})
        stats["calls"] += 1
        stats["errors"] += 0 if entry.get("ok") is True else 1
    expected = {
        "calls": sum(s["calls"] for s in by_tool.values()),
        "errors": sum(s["errors"] for s in by_tool.values()),
        "by_tool": by_tool,
    }
    return [
        f"tools.{name} is {_short(tools.get(name))} but the actions make {_short(value)}"
        + (" tool calls" if name == "calls" else " (from the calls and their ok flags)")
        for name, value in expected.items()
        if tools.get(name) != value
    ]


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def declared_tool_problems(declared: Collection[str], used: Collection[str]) -> list[str]:
    """``submission.json`` "tools" against the env tools the trajectories call: they must be the same set."""
    undeclared, unused = sorted(set(used) - set(declared)), sorted(set(declared) - set(used))
    if not undeclared and not unused:
        return []
    parts = ([f"called but not listed: {_json_list(undeclared)}"] if undeclared else []) + (
        [f"listed but never called: {_json_list(unused)}"] if unused else []
    )
    return [
        f'"tools" must list exactly the tools the trajectories call ({"; ".join(parts)}); '
        f'write "tools": {_json_list(sorted(used))}'
    ]


def called_tools(run: str | Path) -> list[str]:
    """The tools a finished run's trajectories call: what its ``submission.json`` "tools" lists.

    Args:
        run: A ``spacetools eval`` output folder (``results.jsonl`` and ``manifest.json``).
    """
    folder = Path(run)
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    tools = {name for env in manifest.get("envs", []) for name in env.get("tools", [])}
    called: set[str] = set()
    with (folder / "results.jsonl").open(encoding="utf-8") as lines:
        for line in lines:
            turns = json.loads(line)["trajectory"]["tool_calls"] if line.strip() else []
            called |= {call["name"] for turn in turns for call in turn if call.get("name") in tools}
    return sorted(called)


def _json_list(names: Sequence[str]) -> str:
    return "[" + ", ".join(f'"{name}"' for name in names) + "]"
