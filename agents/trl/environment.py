"""TRL's ``environment_factory``: any SpaceTools id as an environment class whose methods are our tools.

::

    from agents.trl import environment_class, factory_rows, submit_answers
    Env = environment_class("SpaceTools-Synth-RelativeDepth-v0")
    trainer = GRPOTrainer(model=model, processing_class=processor, reward_funcs=[submit_answers],
                          train_dataset=Dataset.from_list(factory_rows(Env.env_id, 64)),
                          environment_factory=Env, args=args)

The class has one public method per tool of the env, named with the tool's function name
(``roborefer__detect_one`` for ``roborefer.detect_one``, :mod:`tool_backends.names`), its signature and
Google docstring generated from the tool's declaration, so the schema TRL renders is our own
(descriptions, types, required arguments). ``reset(**row)`` plays the row's item (``env_id``, ``split``,
``index``, ``seed``: :func:`factory_rows`) and returns the question's images and text, appended by TRL to
the row's user message; a tool method runs one call through ``env.step`` (the ``$variable`` store, tool
noise, failures as the text the model sees, 2,048-char responses) and returns its text, or a content list
with the images a tool returned (``tool_images=True``). ``get_reward()`` is the env's reward for the
episode (the sum of its step rewards).

What differs from the paper's protocol here (the ``rollout_func`` path keeps it exactly):

- TRL owns parsing and the turn caps: tool calls are read by the chat template's response schema, not by
  the env's parser, so a malformed call is TRL's failure (``tools/failure_frequency``), never an ``Error:``
  message nor an ``invalid_action`` penalty; there are no 8-turn or 8-calls-per-turn limits (TRL's
  ``max_tool_calling_iterations`` and ``max_completion_length`` bound a rollout; the env allows
  ``MAX_CALLS`` = 1,024 calls per episode, its ``max_turns``, which ``env_kwargs`` may set).
- Tools are announced by the template's ``tools=`` rendering under function names (``__`` for the dot), not
  by the env's Qwen2.5 tools block, and the system prompt is the env's without that block.
- Each tool call is one env step, so ``turn`` counts calls.
- TRL ends a rollout at a turn without tool calls, and an environment never sees that last message:
  :func:`submit_answers`, listed first in ``reward_funcs``, hands each environment its completion's
  final text before TRL calls ``get_reward``; a text holding ``<answer>`` is stepped as in the paper's
  protocol (scored, or an ``invalid_action`` when malformed), any other ends the episode unanswered.
  It returns 0.0 for every completion (it adds nothing to the reward) and logs the ``reward/`` and
  ``tools/`` metrics.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from agents.trl.policy import to_pil
from agents.trl.rewards import episode_metrics
from tool_backends.names import to_function_name

MAX_CALLS = 1024
"""Tool calls an episode may make in this path (the env's ``max_turns``: one call per step)."""
_TYPES: dict[str, Any] = {"integer": int, "number": float, "string": str, "boolean": bool, "object": dict}


class SpaceToolsEnvironment:
    """The base of :func:`environment_class`'s classes: one env, one episode at a time."""

    env_id: str = ""
    env_kwargs: Mapping[str, Any] = {}

    def __init__(self) -> None:
        import gymnasium as gym

        self._env = gym.make(self.env_id, **_path_options(self.env_kwargs))
        self._reward = 0.0
        self._components: dict[str, float] = {}
        self._info: dict[str, Any] = {}
        self._done = True

    def reset(self, **row: Any) -> list[dict[str, Any]]:
        """Start the row's episode (``env_id``, ``split``, ``index``, ``seed``); the question's images and text."""
        if row.get("env_id", self.env_id) != self.env_id:
            raise ValueError(
                f"this environment plays {self.env_id!r}, but the row names {row.get('env_id')!r}; pass a dict "
                "environment_factory with an 'environment' column to mix env ids"
            )
        options = {key: row[key] for key in ("split", "index") if row.get(key) is not None}
        seed: Any = row.get("seed")
        observation, self._info = self._env.reset(seed=None if seed is None else int(seed), options=options)
        self._reward, self._components, self._done = 0.0, {}, False
        user = observation[-1]
        return [_part(p) for p in user["content"]]

    @property
    def info(self) -> dict[str, Any]:
        """The env's latest ``info`` (score, tool statistics; a property, so not a tool)."""
        return self._info

    @property
    def components(self) -> dict[str, float]:
        """Each reward component summed over the episode so far."""
        return dict(self._components)

    def get_reward(self) -> float:
        """The env's reward for the episode so far (answer included once :func:`submit_answers` ran)."""
        return self._reward

    def _step(self, action: Any) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        observation, reward, terminated, truncated, self._info = self._env.step(action)
        self._reward += float(reward)
        for name, value in self._info["reward_components"].items():
            self._components[name] = self._components.get(name, 0.0) + float(value)
        self._done = bool(terminated or truncated)
        return observation, self._info

    def _call(self, name: str, arguments: dict[str, Any]) -> str | list[dict[str, Any]]:
        if self._done:
            return (f"Error: the episode is over (answered, or its {MAX_CALLS} tool calls are spent); "
                    f"{name} was not run")
        observation, _ = self._step({"tool_calls": [{"name": name, "arguments": arguments}]})
        message = observation[-1]
        parts = [_part(p) for p in message["content"]]
        images = [p for p in parts if p["type"] == "image"]
        return images + [p for p in parts if p["type"] == "text"] if images else "".join(p["text"] for p in parts)

    def _answer(self, text: str) -> None:
        """Step the episode with the model's final text when it holds an answer (the scorer reads it)."""
        if not self._done and "<answer>" in text:
            self._step(text)


def environment_class(env_id: str, **env_kwargs: Any) -> type[SpaceToolsEnvironment]:
    """A TRL environment class for ``env_id`` (see the module docstring); ``env_kwargs`` go to ``gym.make``."""
    import gymnasium as gym

    probe = gym.make(env_id, **_path_options(env_kwargs))
    try:
        schemas = list(probe.unwrapped.tool_schemas)  # type: ignore[attr-defined]
    finally:
        probe.close()
    methods: dict[str, Any] = {"env_id": env_id, "env_kwargs": dict(env_kwargs)}
    for schema in schemas:
        method = tool_method(schema)
        methods[method.__name__] = method
    name = "".join(ch for ch in env_id.split(":")[-1] if ch.isalnum()) + "Environment"
    return type(name, (SpaceToolsEnvironment,), methods)


def tool_method(schema: Mapping[str, Any]) -> Callable[..., Any]:
    """A method for one tool's OpenAI schema: its function name, typed signature and Google docstring."""
    function = schema["function"]
    dotted = function["name"]
    properties: Mapping[str, Any] = function["parameters"].get("properties", {})
    required = set(function["parameters"].get("required", []))

    def call(self: SpaceToolsEnvironment, **arguments: Any) -> str | list[dict[str, Any]]:
        return self._call(dotted, arguments)

    params = [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    annotations: dict[str, Any] = {}
    for arg, spec in properties.items():
        annotations[arg] = _python_type(spec) if arg in required else _python_type(spec) | None
        default = inspect.Parameter.empty if arg in required else None
        params.append(inspect.Parameter(arg, inspect.Parameter.KEYWORD_ONLY, default=default,
                                        annotation=annotations[arg]))
    annotations["return"] = str
    call.__name__ = call.__qualname__ = to_function_name(dotted)
    call.__signature__ = inspect.Signature(params, return_annotation=str)  # type: ignore[attr-defined]
    call.__annotations__ = annotations
    lines = [function["description"], "", "Args:"]
    lines += [f"    {arg}: {' '.join(str(spec.get('description', arg)).split())}" for arg, spec in properties.items()]
    lines += ["", "Returns:", "    The tool's text output (an Error: text when the call failed)."]
    call.__doc__ = "\n".join(lines)
    return call


def factory_rows(
    env_id: str, count: int, *, split: str = "test", start: int = 0, seed: int = 0,
    env_kwargs: Mapping[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Rows for the factory path: the env's system prompt (without the tools block), an empty user message
    (``reset`` fills it), and ``env_id``, ``split``, ``index``, ``seed`` (row ``k``: item ``start + k``, seed
    ``seed + k``)."""
    import gymnasium as gym

    env = gym.make(env_id, **_path_options(env_kwargs or {}))
    rows = []
    try:
        for k in range(count):
            key: dict[str, Any] = {"env_id": env_id, "split": split, "index": start + k, "seed": seed + k}
            observation, _ = env.reset(seed=key["seed"], options={"split": split, "index": key["index"]})
            system = "".join(p.get("text", "") for p in observation[0]["content"] if p["type"] == "text")
            rows.append({"prompt": [{"role": "system", "content": system}, {"role": "user", "content": ""}], **key})
    finally:
        env.close()
    return rows


def submit_answers(
    completions: Sequence[Any], environments: Sequence[SpaceToolsEnvironment] | None = None,
    log_metric: Callable[[str, float], None] | None = None, **kwargs: Any,
) -> list[float | None]:
    """TRL reward function of the factory path: each completion's final text to its environment (see above).

    Returns:
        0.0 per completion; the env's reward reaches TRL through ``get_reward``, called after this.
    """
    if environments is None:
        raise ValueError(
            "submit_answers needs TRL's environments: train with environment_factory=environment_class(...)"
        )
    for completion, environment in zip(completions, environments, strict=True):
        if isinstance(environment, SpaceToolsEnvironment):
            environment._answer(_final_text(completion))
    if log_metric is not None:
        ours = [e for e in environments if isinstance(e, SpaceToolsEnvironment)]
        infos = [e.info for e in ours]
        metrics = episode_metrics(
            [e.get_reward() for e in ours], [e.components for e in ours],
            [i["tool_stats"]["calls"] for i in infos], [i["tool_stats"]["errors"] for i in infos],
            [i["turn"] for i in infos], [i["answer"] is not None for i in infos], [i["score"] for i in infos],
        )
        for name, value in metrics.items():
            log_metric(name, value)
    return [0.0] * len(completions)


def add_response_parser(processor: Any) -> Any:
    """Set the response parser TRL needs to read tool calls on ``processor``'s tokenizer; returns ``processor``.

    TRL recognises only its own copies of chat templates (``add_response_schema``); the shipped Qwen2.5-VL and
    Qwen3-VL templates (:mod:`agents.models.templates`) write calls as Qwen's ``<tool_call>`` JSON, which TRL's
    Qwen3 parser reads (both families train through this path; TRL's own Qwen2.5-VL template cannot call tools).
    """
    from trl import chat_template_utils as ctu

    tokenizer = getattr(processor, "tokenizer", processor)
    if getattr(ctu, "_SUPPORTS_RESPONSE_TEMPLATE", False):
        tokenizer.response_template = ctu.qwen3_template
    else:
        tokenizer.response_schema = ctu.qwen3_schema
    return processor


def _final_text(completion: Any) -> str:
    if isinstance(completion, str):
        return completion
    for message in reversed(list(completion)):
        if isinstance(message, Mapping) and message.get("role") == "assistant":
            content = message.get("content") or ""
            if isinstance(content, str):
                return content
            return "".join(p.get("text", "") for p in content if isinstance(p, Mapping))
    return ""


def _part(part: Mapping[str, Any]) -> dict[str, Any]:
    if part.get("type") == "image":
        return {"type": "image", "image": to_pil(part["image"])}
    return {"type": "text", "text": part.get("text", "")}


def _python_type(spec: Mapping[str, Any]) -> Any:
    if spec.get("type") == "array":
        return list[_python_type(spec.get("items", {}))]  # type: ignore[misc]
    return _TYPES.get(str(spec.get("type")), str)


def _path_options(env_kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """The env's options in this path: no tools block (the template renders ``tools=``), calls as turns."""
    return {"tools_in_system_prompt": False, "max_turns": MAX_CALLS, **dict(env_kwargs)}
