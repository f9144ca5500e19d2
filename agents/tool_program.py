"""The scripted tool-program agent: solves each family by calling tools the way the original traces do.

Each family has a program (``agents/programs/<family>.py``): a generator that reads the
question, yields assistant turns (tool calls, then an answer) and receives the text of the
tool responses to each turn. It sees exactly what a model sees, so with exact oracle tools its
score checks that world, tools and scorers agree; its episodes are SFT traces for a student.

Teacher thoughts (``thoughts``): ``"default"`` writes the original traces' short thoughts;
``"decisions"`` makes each program that takes a ``thoughts`` argument (Relation2D,
SpatialConfiguration, RelativeDepth) state every decision one step from text it copied just before
(digit by digit comparisons, then the option), the lever that lets a tiny student learn the answer
and not only the format (``docs/learning.md``). Programs without the argument keep their thoughts.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Generator, Mapping, Sequence
from typing import Any

from agents.programs import PROGRAMS
from agents.programs.toolkit import ProgramError, answer, check_thoughts
from spacetools_env.messages import message_text
from spacetools_env.rollout import Turn

Program = Generator[str, list[str], None]
ProgramFactory = Callable[[str], Program]


class ToolProgramAgent:
    """Runs one program per episode, keyed by ``Turn.episode_id``.

    Args:
        programs: Family name -> program factory; defaults to every built-in program.
        thoughts: Teacher-thought style (``agents.programs.toolkit.THOUGHTS``), passed to the programs
            that take a ``thoughts`` argument; ``"default"`` calls every program with the question alone.

    Raises:
        ValueError: an unknown ``thoughts`` style (the styles are named).
    """

    name = "tool-program"

    def __init__(self, programs: Mapping[str, ProgramFactory] | None = None, thoughts: str = "default") -> None:
        check_thoughts(thoughts)
        self.programs = dict(PROGRAMS if programs is None else programs)
        self.thoughts = thoughts
        self._running: dict[str, Program] = {}

    def act(self, turns: Sequence[Turn]) -> list[Any]:
        return [self._act_one(t) for t in turns]

    def end_episode(self, episode_id: str) -> None:
        program = self._running.pop(episode_id, None)
        if program is not None:
            program.close()

    def _act_one(self, turn: Turn) -> str:
        started = any(m["role"] == "assistant" for m in turn.messages)
        try:
            if not started or turn.episode_id not in self._running:
                self.end_episode(turn.episode_id)
                program = self._start(turn)
                self._running[turn.episode_id] = program
                return next(program)
            return self._running[turn.episode_id].send(_latest_tool_texts(turn.messages))
        except (StopIteration, ProgramError) as exc:
            self.end_episode(turn.episode_id)
            return answer("", thought=f"The tool program could not finish: {exc}")

    def _start(self, turn: Turn) -> Program:
        family = turn.info["task"]["family"]
        factory = self.programs.get(family)
        if factory is None:
            raise ProgramError(f"no tool program for family {family!r}; known: {sorted(self.programs)}")
        question = next(message_text(m) for m in reversed(turn.messages) if m["role"] == "user")
        if self.thoughts != "default" and "thoughts" in inspect.signature(factory).parameters:
            return factory(question, thoughts=self.thoughts)  # type: ignore[call-arg]
        return factory(question)


def _latest_tool_texts(messages: list[dict[str, Any]]) -> list[str]:
    """Texts of the tool messages after the last assistant message, in order."""
    texts: list[str] = []
    for m in reversed(messages):
        if m["role"] == "assistant":
            break
        if m["role"] == "tool":
            texts.append(message_text(m))
    return texts[::-1]
