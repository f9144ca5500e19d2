"""SpaceToolsEnv: one spatial question per episode, answered by calling vision tools over turns."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, cast

import gymnasium as gym
import numpy as np

from spacetools_env import messages as msg
from spacetools_env.config import EnvConfig, check_source_options
from spacetools_env.parsing import ToolCallRequest, plan_turn
from spacetools_env.prompts import tools_block
from spacetools_env.rewards import total, zero_components
from spacetools_env.sources import SyntheticSource, resolve_difficulty
from spacetools_env.spaces import ChatMessages, ModelAction
from spacetools_env.task import ItemSource, TaskFamily, TaskItem
from spacetools_env.tool_rounds import rounds
from tool_backends import (
    EpisodeContext,
    ToolCall,
    ToolError,
    ToolInfrastructureError,
    ToolResult,
    VariableStore,
    make_client,
)

SourceFactory = Callable[..., ItemSource]
"""``factory(family, config, **config.source_options) -> ItemSource`` (e.g. a ``functools.partial``)."""


class SpaceToolsEnv(gym.Env[list, Any]):
    """A tool-augmented spatial question as a Gymnasium environment.

    Description:
        Each episode poses one question about an image (a synthetic tabletop scene or a
        benchmark item). The agent answers over up to ``max_turns`` assistant turns; in each
        it may call up to ``max_calls_per_turn`` vision tools (pointing, depth, segmentation,
        image ops, 3D boxes) using the original SpaceTools protocol, and ends the episode
        with ``<answer>...</answer>``.

    Observation:
        A list of chat messages (:class:`~spacetools_env.spaces.ChatMessages`): ``reset``
        returns the system message (instructions and, by default, the Qwen2.5 ``# Tools``
        block) and the user message (images, then the question); ``step`` returns one
        ``role="tool"`` message per call or problem, its text capped at ``max_response_chars``
        by cutting the middle. Keep the history yourself or wrap the env in
        ``spacetools_env.wrappers.ChatHistory`` (the whole conversation each step).

    Tools:
        The original names, arguments and text templates (``roborefer.detect_one``,
        ``depth_estimator.estimate_depth``, ``sam2.segment_from_point``, ...). Large results
        are stored per episode and referenced as ``"$depth_map"``. Calls in one turn run in
        order, so a call may use a variable stored by an earlier call of the same turn; the calls
        reach the tool client as rounds, one ``call_many`` each (a call that references a
        ``$variable`` opens a round: :mod:`spacetools_env.tool_rounds`). Schemas
        (OpenAI format) are in ``info["tools"]``; dict actions may name tools by their native
        function names (``roborefer__detect_one``, :mod:`tool_backends.names`). With
        ``tool_images=True`` the images tools return (``vision_ops.crop``/``zoom``, opt-in) follow
        the tool text in its message and take the next ``image_index`` for later calls.

    Reward:
        ``sum(weight * component)`` over ``score`` (official), ``shaped`` (dense partial
        credit), ``invalid_action`` and ``tool_error`` (penalties); see
        :mod:`spacetools_env.rewards`. Every component is in ``info["reward_components"]``.

    Episode end:
        ``terminated`` when the model answers; ``truncated`` after ``max_turns`` turns
        without an answer. Malformed actions never raise: they return ``Error: ...``
        messages the model can learn from, plus an ``invalid_action`` penalty.

    Registered ids:
        ``SpaceTools-Synth-<Family>-v<version>`` for every synthetic family (see
        ``spacetools_env.registered_ids()``).

    Version history:
        v0: initial release.
    """

    # gymnasium declares ``metadata`` as an instance attribute; a ClassVar would contradict it.
    metadata: dict[str, Any] = {"render_modes": ["rgb_array"]}  # noqa: RUF012
    action_space: ModelAction
    observation_space: ChatMessages

    def __init__(
        self,
        task: str | TaskFamily,
        source: ItemSource | SourceFactory | None = None,
        render_mode: str | None = None,
        **kwargs: Any,
    ) -> None:
        from spacetools_env.registration import get_family

        self.family = get_family(task) if isinstance(task, str) else task
        self.config = EnvConfig.from_options(kwargs, env_options=("render_mode",))
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        self.render_mode = render_mode
        self.source = self._make_source(source)
        # Fail at gym.make, not at the first reset: a missing or empty benchmark copy, an unknown split.
        if self.source.num_items(self.config.split) < 1:
            raise ValueError(f"split {self.config.split!r} of task {self.family.name!r} holds no items")
        self.client = self._make_client()
        self.tool_schemas = [spec.openai_schema() for spec in self.client.specs]
        # No tools offered (tools=[], the no-tool mode): no "# Tools" block promising functions.
        with_block = self.config.tools_in_system_prompt and bool(self.tool_schemas)
        self.tools_text = tools_block(self.tool_schemas) if with_block else ""
        self.system_prompt = self.family.system_prompt + self.tools_text
        self.weights = self.config.weights
        self.observation_space = ChatMessages()
        self.tool_names = frozenset(spec.name for spec in self.client.specs)
        self.action_space = ModelAction([spec.name for spec in self.client.specs])
        self.variables = VariableStore()
        self.item: TaskItem | None = None
        self.timing: dict[str, float] = {}
        self._reset_episode_state()

    # ------------------------------------------------------------------ construction
    def _make_source(self, source: ItemSource | SourceFactory | None) -> ItemSource:
        options = dict(self.config.source_options)
        # ItemSource is a structural protocol, so "has get" (not isinstance) tells the two apart.
        if source is not None and callable(source) and not hasattr(source, "get"):
            check_source_options(source, options)
            return source(self.family, self.config, **options)
        if options:
            kind = "the synthetic world" if source is None else "an item source given ready-made"
            raise ValueError(
                f"source_options {sorted(options)} go to a benchmark's item-source factory, but the items of "
                f"task {self.family.name!r} come from {kind}, which takes none; leave source_options out"
                + (" (difficulty= and num_items= shape synthetic items)" if source is None else "")
            )
        if source is None:
            return SyntheticSource(self.family, resolve_difficulty(self.config.difficulty), self.config.num_items)
        return cast(ItemSource, source)

    def _make_client(self) -> Any:
        if self.config.tool_client is not None:
            client = self.config.tool_client()
            if not callable(getattr(client, "call_many", None)):
                raise TypeError(
                    f"the tool_client factory returned a {type(client).__name__} without call_many(calls); a "
                    "ToolClient runs each round of a turn's calls through it: add it (calling call() on each "
                    "(name, arguments) in order is enough)"
                )
            return client
        return make_client(self.config.tool_backend, tools=self.config.tools, **dict(self.config.tool_options))

    def _reset_episode_state(self) -> None:
        self.turn = 0
        self.done = False
        self.score = 0.0
        self.answer: str | None = None
        self.invalid_actions = 0
        self.tool_calls = 0
        self.tool_errors = 0
        self.by_tool: dict[str, dict[str, int]] = {}
        self.images: list[np.ndarray] = []
        self.task_info: dict[str, Any] = {}
        self.timing = {"tools_s": 0.0}
        self.variables.clear()

    # ------------------------------------------------------------------ gymnasium API
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[list, dict]:
        super().reset(seed=seed)
        options = dict(options or {})
        split = str(options.pop("split", self.config.split))
        count = self.source.num_items(split)
        index = int(options.pop("index")) if "index" in options else int(self.np_random.integers(0, count))
        if options:
            raise ValueError(f"unknown reset options {sorted(options)}; supported: ['index', 'split']")
        item = self.source.get(split, index)
        self._reset_episode_state()
        self.item = item
        self.images = list(item.images)
        episode_seed = int(self.np_random.integers(0, 2**31 - 1))
        self.client.open_episode(
            EpisodeContext(images=item.images, truth=item.truth, seed=episode_seed, tool_images=self.config.tool_images)
        )
        self.task_info = {
            "family": self.family.name,
            "version": self.family.version,
            "env_id": self.spec.id if self.spec is not None else None,
            "item_id": item.item_id,
            "split": split,
            "index": index,
            **item.meta,
        }
        system = self.system_prompt if item.system_prompt is None else item.system_prompt + self.tools_text
        observation = [msg.system_message(system), msg.user_message(item.question, item.images)]
        return observation, self._info(zero_components(), [])

    def step(self, action: Any) -> tuple[list, float, bool, bool, dict]:
        if self.item is None or self.done:
            raise RuntimeError("the episode is over (or never started): call reset() before step()")
        self.turn += 1
        parsed = plan_turn(action, self.config.max_calls_per_turn, max_chars=self.config.max_action_chars)
        components = zero_components()
        observation: list[dict[str, Any]] = []
        results: list[dict[str, Any]] = []
        terminated = False
        if parsed.answer is not None:
            self.answer = parsed.answer
            self.score = float(self.family.score(parsed.answer, self.item))
            components["score"] = self.score
            components["shaped"] = float(self.family.shaped_score(parsed.answer, self.item))
            terminated = True
        else:
            for error in parsed.errors:
                text = msg.truncate_middle("Error: " + error, self.config.max_response_chars)
                observation.append(msg.tool_message("invalid_action", text))
            self.invalid_actions += len(parsed.errors)
            components["invalid_action"] = -float(len(parsed.errors))
            for call, result in self._run_rounds(parsed.calls):
                message, record = self._run_call(call, result)
                observation.append(message)
                results.append(record)
                if not record["ok"]:
                    components["tool_error"] -= 1.0
        truncated = not terminated and self.turn >= self.config.max_turns
        self.done = terminated or truncated
        return observation, total(components, self.weights), terminated, truncated, self._info(components, results)

    def _run_rounds(self, calls: tuple[ToolCallRequest, ...]) -> Iterator[tuple[ToolCallRequest, ToolResult]]:
        """Each call with its result, in order; a round's calls go to the client in one ``call_many``.

        The consumer records each result (storing its variables) before the next round is resolved.
        """
        for group in rounds(calls, images=len(self.images)):
            resolved = [self._resolve(call) for call in group]
            sent = [ToolCall(c.name, a) for c, a in zip(group, resolved, strict=True) if not isinstance(a, ToolResult)]
            answers = self.client.call_many(sent) if sent else []
            if len(answers) != len(sent):
                raise ToolInfrastructureError(
                    f"{type(self.client).__name__}.call_many returned {len(answers)} results for {len(sent)} calls; "
                    "a ToolClient returns one result per call, in order"
                )
            answers = iter(answers)
            for call, arguments in zip(group, resolved, strict=True):
                yield call, arguments if isinstance(arguments, ToolResult) else next(answers)

    def _resolve(self, call: ToolCallRequest) -> dict[str, Any] | ToolResult:
        """The call's arguments with ``$variables`` replaced, or the failed result the model sees."""
        try:
            return self.variables.resolve(call.arguments)
        except ToolError as exc:
            return ToolResult.error(str(exc))
        except RecursionError:
            return ToolResult.error(f"{call.name}: arguments are nested too deeply")

    def _run_call(self, call: ToolCallRequest, result: ToolResult) -> tuple[dict[str, Any], dict[str, Any]]:
        if result.ok:
            self.variables.update_from(result.variables)
        self.tool_calls += 1
        # unknown names are pooled so a model spraying invented names cannot grow info without bound
        name = call.name if call.name in self.tool_names else "<unknown>"
        stats = self.by_tool.setdefault(name, {"calls": 0, "errors": 0})
        stats["calls"] += 1
        if not result.ok:
            self.tool_errors += 1
            stats["errors"] += 1
        self.timing["tools_s"] += result.elapsed_s
        images: tuple[np.ndarray, ...] = ()
        if self.config.tool_images and result.images:
            images = result.images
            self.images.extend(images)
        text = msg.truncate_middle(result.text, self.config.max_response_chars)
        # fault goes to the record (info, trajectories, eval records), never into the message the model reads
        record = {"name": call.name, "arguments": call.arguments, "ok": result.ok, "text": text, "data": result.data,
                  "fault": result.fault}
        return msg.tool_message(call.name, text, images), record

    def _info(self, components: dict[str, float], results: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "score": self.score,
            "answer": self.answer,
            "reward_components": components,
            "reward_weights": dict(self.weights),
            "turn": self.turn,
            "invalid_actions": self.invalid_actions,
            "tool_stats": {
                "calls": self.tool_calls,
                "errors": self.tool_errors,
                "by_tool": {name: dict(s) for name, s in self.by_tool.items()},
            },
            "tool_results": results,
            "task": dict(self.task_info),
            "tools": self.tool_schemas,
        }

    def render(self) -> np.ndarray | None:
        """The question image; drawings of tool results are added by :mod:`spacetools_env.drawing`."""
        if self.render_mode != "rgb_array" or self.item is None:
            return None
        return np.array(self.item.images[0])

    def close(self) -> None:
        self.client.close()
        super().close()


def unwrap(env: gym.Env[Any, Any]) -> SpaceToolsEnv:
    """The :class:`SpaceToolsEnv` under ``env``'s wrappers, typed as such.

    ``env.unwrapped`` is typed as a plain ``gym.Env``; use this to reach the episode's
    ``family``, ``item``, ``source`` or ``config`` with their real types.

    Args:
        env: An environment made by ``gym.make`` for a SpaceTools id, or the env itself.

    Returns:
        The innermost environment.

    Raises:
        TypeError: If the innermost environment is not a ``SpaceToolsEnv``.
    """
    inner = env.unwrapped
    if not isinstance(inner, SpaceToolsEnv):
        raise TypeError(
            f"expected an environment wrapping SpaceToolsEnv, got {type(inner).__name__}; "
            "make it with gym.make('SpaceTools-...') (for a vector env, unwrap each of its envs)"
        )
    return inner
