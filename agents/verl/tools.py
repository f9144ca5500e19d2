"""Our tools as verl ``BaseTool`` classes: one class, configured by tool name, running ``env.step``.

verl (0.9.1) builds tools from a YAML (:mod:`agents.verl.tool_config`) with
``initialize_tools_from_config``: ``class_name: agents.verl.tools.SpaceToolsTool`` and a ``config``
per tool. Its ``ToolAgentLoop`` then runs every call as ``create -> execute -> release`` on a fresh
instance id (``BaseTool.create`` is called with no id), passing ``agent_data`` to ``execute``.

Decisions:

- **One class serves every tool** (``config.tool`` names it, dotted): the tools differ only by
  declaration, and one class keeps one code path for all of them. verl's tool name is the tool's
  function name (``roborefer__detect_one``, :mod:`tool_backends.names`): verl renders schemas with the
  chat template's ``tools=``, and OpenAI-style names cannot hold a dot.
- **A call is one ``env.step``** of the episode's env, through the same per-episode object as TRL's
  ``environment_factory`` path (:func:`agents.trl.environment.environment_class`): the env runs the
  call through its ``ToolClient``, so verl sees ``env.step``'s text exactly, its ``$variable`` store,
  its tool noise and call-number seeding, its ``Error: ...`` feedback and its 2,048-character cap
  (keep verl's ``max_tool_response_length`` at least the env's ``max_response_chars``, else verl
  cuts again, its own way). Images a tool returns (``tool_images=True``) come back in
  ``ToolResponse.image``, which verl appends to the conversation, as the env appends them to its own.
- **Per-episode state is keyed on verl's ``agent_data.request_id``** in a per-process registry (an
  AgentLoopWorker runs all turns of an episode, and holds the tools of all names, in one process).
  The instance id cannot be the key: verl makes a new one for every call and releases it right after.
  So ``create`` only records the row's ``create_kwargs`` (which item: ``env_id``, ``split``, ``index``,
  ``seed``; :func:`tools_kwargs` builds them for a dataset row), ``execute`` finds or starts the
  episode of ``agent_data.request_id`` (the first call resets an env with those kwargs), and
  ``release`` drops only the instance id. The episode is freed when verl drops its ``AgentData``
  (a ``weakref.finalize`` on it removes it from the registry): the agent loop never tells a tool that an episode
  ended, and the ``AgentData`` lives exactly as long as the episode. A ``request_id`` held by two live
  ``AgentData`` (verl's ``full_determinism`` ids are ``det-<priority>``, unique within a batch) is an
  error, never a merged episode.
- **Calls of one turn run in order.** verl runs a turn's calls with ``asyncio.gather``; a later call
  may read a ``$variable`` an earlier one stores (``estimate_depth`` then ``index_at``). Each episode
  has an ``asyncio.Lock`` (FIFO), taken before the first suspension of ``execute``, so calls reach
  the env in the order verl issued them; the env step itself runs in a worker thread
  (``asyncio.to_thread``, as verl's own ``FunctionTool`` runs sync functions), so tool work does not
  stall the event loop (the worker's generation requests go on). Env work of different episodes is
  serialized by one process-wide lock: the synthetic world (one PyBullet client per process) and the
  item cache are shared by every env of the process and are not thread-safe.
- **Step reward**: ``config.tool_reward`` ``"env"`` (default) returns the env's reward for the call
  (``sum(weight * component)``, so ``tool_error`` when it failed and 0 otherwise, as ``env.step``);
  ``"toolshed"`` returns the original wrapper's 0.1 on success, 0.0 on error.
- **Importable without verl**: ``SpaceToolsTool`` is built on first access (module ``__getattr__``) as
  ``type("SpaceToolsTool", (SpaceToolsToolMixin, verl.tools.base_tool.BaseTool), {})``; without verl
  installed that access raises an ``ImportError`` naming the fix. :class:`SpaceToolsToolMixin` holds
  all the behaviour, typed, and imports verl only inside its methods.

verl itself answers a call of an unknown function (``Unknown function ...``) and arguments that are
not JSON (``Invalid JSON in arguments ...``) before any tool runs, and turns any exception a tool
raises into ``Error executing tool '<name>': <message>`` shown to the model; so a bad row (no
``create_kwargs``) reaches the model and verl's log as that text with our message naming the fix.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import threading
import uuid
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from tool_backends.backends import DEFAULT_TOOLS
from tool_backends.names import to_function_name

CLASS_NAME = "agents.verl.tools.SpaceToolsTool"
"""The ``class_name`` of our tools in a verl tool YAML."""
EPISODE_KEYS = ("env_id", "split", "index", "seed")
"""What a row's ``create_kwargs`` name: the item an episode plays (``env.reset(seed, options)``)."""
CONFIG_KEYS = ("type", "tool", "env_id", "env_kwargs", "tool_reward")
"""The keys a tool's ``config`` in the YAML may hold."""
TOOL_REWARDS = ("env", "toolshed")
"""What ``config.tool_reward`` may be: the env's reward for the call, or the original wrapper's."""
TOOLSHED_SUCCESS_REWARD = 0.1
"""The original verl wrapper's step reward for a successful call (0.0 on error)."""
VERL_VERSION = "0.9.1"
_INSTALL_HINT = (
    f"pip install --no-deps verl=={VERL_VERSION} in an environment of its own (verl pins "
    "transformers<5.11, older than TRL needs; docs/verl.md lists the packages its tool loading imports)"
)


@dataclass(frozen=True)
class ToolSettings:
    """One tool's ``config`` from the verl tool YAML, validated.

    Attributes:
        tool: The dotted tool name (``roborefer.detect_one``).
        env_id: The env played when a row's ``create_kwargs`` name none (None: rows must name it).
        env_kwargs: ``gym.make`` options of every episode's env (``tools``, ``tool_backend``,
            ``tool_options``, ``tool_images``, ``max_response_chars``...); every tool of one YAML must
            carry the same, since the first call of an episode makes its env.
        tool_reward: ``"env"`` or ``"toolshed"`` (see the module docstring).
    """

    tool: str
    env_id: str | None = None
    env_kwargs: Mapping[str, Any] = field(default_factory=dict)
    tool_reward: str = "env"

    def __post_init__(self) -> None:
        if not isinstance(self.tool, str) or not self.tool:
            raise ValueError(f"config.tool must be a dotted tool name, e.g. 'roborefer.detect_one'; got {self.tool!r}")
        to_function_name(self.tool)  # a ValueError naming the rule when the name cannot be one
        if self.tool_reward not in TOOL_REWARDS:
            raise ValueError(f"config.tool_reward must be one of {list(TOOL_REWARDS)}, got {self.tool_reward!r}")
        if not isinstance(self.env_kwargs, Mapping):
            kind = type(self.env_kwargs).__name__
            raise ValueError(f"config.env_kwargs must be a mapping of gym.make options, got {kind}")
        tools = self.tools
        if self.tool not in tools:
            raise ValueError(
                f"config.tool {self.tool!r} is not among the episode env's tools {list(tools)} "
                "(config.env_kwargs.tools); list it there, as write_tool_config does"
            )

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> ToolSettings:
        """Settings from a YAML tool ``config`` (``type: native`` plus :data:`CONFIG_KEYS`).

        Raises:
            ValueError: an unknown key (named, with the allowed ones), a missing ``tool``, a bad value.
        """
        unknown = sorted(str(k) for k in config if k not in CONFIG_KEYS)
        if unknown:
            raise ValueError(f"unknown key(s) {unknown} in a SpaceToolsTool config; allowed: {list(CONFIG_KEYS)}")
        if "tool" not in config:
            raise ValueError("a SpaceToolsTool config needs 'tool': the dotted tool name, e.g. roborefer.detect_one")
        return cls(
            tool=config["tool"],
            env_id=config.get("env_id"),
            env_kwargs=dict(config.get("env_kwargs") or {}),
            tool_reward=str(config.get("tool_reward", "env")),
        )

    @property
    def tools(self) -> tuple[str, ...]:
        """The tools the episode's env offers (``env_kwargs.tools``; the env's default set when absent)."""
        tools = self.env_kwargs.get("tools")
        return DEFAULT_TOOLS if tools is None else tuple(tools)

    @property
    def function_name(self) -> str:
        """verl's name of the tool (``roborefer__detect_one``)."""
        return to_function_name(self.tool)


def tools_kwargs(
    env_id: str, split: str, index: int, seed: int, tools: Sequence[str] = DEFAULT_TOOLS
) -> dict[str, dict[str, dict[str, Any]]]:
    """A dataset row's ``extra_info.tools_kwargs``: the episode's item under every tool's function name.

    verl hands ``tools_kwargs[<tool name>]["create_kwargs"]`` to the tool's ``create``; whichever tool
    the model calls first starts the episode with them, so every tool carries the same.

    >>> tools_kwargs("SpaceTools-Synth-Relation2D-v0", "test", 3, 7, ["roborefer.detect_one"])["roborefer__detect_one"]
    {'create_kwargs': {'env_id': 'SpaceTools-Synth-Relation2D-v0', 'split': 'test', 'index': 3, 'seed': 7}}
    """
    key = {"env_id": env_id, "split": split, "index": int(index), "seed": int(seed)}
    return {to_function_name(tool): {"create_kwargs": dict(key)} for tool in tools}


# ---------------------------------------------------------------------------------------- episodes
@dataclass
class Episode:
    """One episode's state in this process: its env (with the ``$variable`` store), item and call lock.

    The env is made and reset at the first call, under the env lock in the worker thread that runs it
    (a synthetic reset renders the scene: ~0.3 s that should not stall the event loop).
    """

    request_id: str
    key: dict[str, Any]
    env_kwargs: dict[str, Any]
    environment: Any = None  # TRL's environment class instance for the env, from the first call on
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    owner: Any = None  # a weakref.ref to verl's AgentData

    def call(self, name: str, arguments: Mapping[str, Any]) -> tuple[str | list[dict[str, Any]], bool, float]:
        """Run one call as one ``env.step``: (text or image+text parts, ok, the step's reward)."""
        with _ENV_LOCK:
            if self.environment is None:
                self.environment = _environment_class(self.key["env_id"], self.env_kwargs)()
                self.environment.reset(**self.key)
            turn, before = self.environment.info.get("turn"), self.environment.get_reward()
            content = getattr(self.environment, to_function_name(name))(**dict(arguments))
        info = self.environment.info
        stepped = info.get("turn") != turn  # not stepped: the episode's call budget was spent
        ok = stepped and bool(info["tool_results"] and info["tool_results"][-1]["ok"])
        return content, ok, self.environment.get_reward() - before


_EPISODES: dict[str, Episode] = {}
# Reentrant: the garbage collector may run an episode's finalizer while this thread holds the lock.
_REGISTRY_LOCK = threading.RLock()
# Env work of different episodes never overlaps: the synthetic world is one PyBullet client per
# process with pooled bodies, and the item cache is shared, neither safe to use from two threads.
_ENV_LOCK = threading.Lock()
_CLASSES: dict[str, Any] = {}


def live_episodes() -> dict[str, Episode]:
    """The episodes this process holds, by ``request_id`` (a copy; for diagnostics and tests)."""
    with _REGISTRY_LOCK:
        return dict(_EPISODES)


def episode_for(agent_data: Any, create_kwargs: Mapping[str, Any], settings: ToolSettings) -> Episode:
    """The episode of ``agent_data.request_id``, started from ``create_kwargs`` on its first call.

    Raises:
        ValueError: no ``agent_data`` (not verl's ``ToolAgentLoop``), ``create_kwargs`` missing a key,
            a later call naming another item or other env options than the episode's.
        RuntimeError: two live ``AgentData`` share one ``request_id``.
    """
    if agent_data is None or not isinstance(getattr(agent_data, "request_id", None), str):
        raise ValueError(
            "SpaceToolsTool.execute needs verl's agent_data (with its request_id) to find the episode; "
            "run it under verl's ToolAgentLoop (agent_name: tool_agent), which passes it"
        )
    key = _episode_key(create_kwargs, settings)
    request_id = agent_data.request_id
    env_kwargs = dict(settings.env_kwargs)
    with _REGISTRY_LOCK:
        episode = _EPISODES.get(request_id)
        if episode is not None:
            owner = episode.owner() if episode.owner is not None else None
            if owner is agent_data:
                _check_same(episode, key, env_kwargs, settings)
                return episode
            if owner is not None:
                raise RuntimeError(
                    f"request_id {request_id!r} names two live episodes; verl gives each trajectory its own id "
                    "(check rollout.full_determinism priorities)"
                )
            _free(request_id, episode)
    episode = Episode(request_id, key, env_kwargs, owner=weakref.ref(agent_data))
    with _REGISTRY_LOCK:
        _EPISODES[request_id] = episode
    weakref.finalize(agent_data, _release_episode, request_id, episode)
    return episode


def _episode_key(create_kwargs: Mapping[str, Any], settings: ToolSettings) -> dict[str, Any]:
    given = dict(create_kwargs or {})
    if "env_id" not in given and settings.env_id is not None:
        given["env_id"] = settings.env_id
    missing = [k for k in EPISODE_KEYS if given.get(k) is None]
    if missing:
        raise ValueError(
            f"the row's tools_kwargs[{settings.function_name!r}]['create_kwargs'] lacks {missing} (has "
            f"{sorted(given)}); build extra_info.tools_kwargs with agents.verl.tools_kwargs(env_id, split, index, seed)"
        )
    return {"env_id": str(given["env_id"]), "split": str(given["split"]), "index": int(given["index"]),
            "seed": int(given["seed"])}


def _check_same(episode: Episode, key: dict[str, Any], env_kwargs: dict[str, Any], settings: ToolSettings) -> None:
    if key != episode.key:
        raise ValueError(
            f"{settings.function_name} was created for item {key}, but episode {episode.request_id!r} plays "
            f"{episode.key}; give every tool of a row the same create_kwargs (agents.verl.tools_kwargs)"
        )
    if env_kwargs != episode.env_kwargs:
        raise ValueError(
            f"{settings.function_name}'s config.env_kwargs {env_kwargs} differ from those that started episode "
            f"{episode.request_id!r} ({episode.env_kwargs}); give every tool of the YAML the same (write_tool_config)"
        )


def _release_episode(request_id: str, episode: Episode) -> None:
    with _REGISTRY_LOCK:
        _free(request_id, episode)


def _free(request_id: str, episode: Episode) -> None:
    # Dropping the reference frees the env (TRL's environment class has no public close, and a
    # public method there would become a TRL tool); the local tool client holds no outside resource.
    if _EPISODES.get(request_id) is episode:
        del _EPISODES[request_id]


def _environment_class(env_id: str, env_kwargs: Mapping[str, Any]) -> Any:
    """TRL's environment class for the env (cached: making it probes the env once)."""
    import spacetools_env  # noqa: F401  (registers the env ids)
    from agents.trl.environment import environment_class

    cache_key = json.dumps([env_id, env_kwargs], sort_keys=True, default=repr)
    cls = _CLASSES.get(cache_key)
    if cls is None:
        cls = _CLASSES[cache_key] = environment_class(env_id, **dict(env_kwargs))
    return cls


# -------------------------------------------------------------------------------------- the tool
class SpaceToolsToolMixin:
    """The behaviour of ``SpaceToolsTool`` (see the module docstring); verl's ``BaseTool`` comes after it.

    Args:
        config: The tool's ``config`` from the YAML (:class:`ToolSettings`; ``type: native`` is verl's).
        tool_schema: verl's ``OpenAIFunctionToolSchema`` from the YAML, or None to generate it from the
            tool's declaration. A given schema must equal the declaration's as verl reads it.

    Raises:
        ValueError: a bad config, or a YAML schema that differs from the tool's declaration (stale YAML).
    """

    name: str
    tool_schema: Any

    def __init__(self, config: dict[str, Any], tool_schema: Any) -> None:
        self.settings = ToolSettings.from_config(config)
        self._instances: dict[str, dict[str, Any]] = {}
        self._requests: dict[str, str] = {}
        cast(Any, super()).__init__(config, tool_schema)
        expected = self.get_declared_schema().model_dump(exclude_unset=True, exclude_none=True)
        given = self.tool_schema.model_dump(exclude_unset=True, exclude_none=True)
        if given != expected:
            raise ValueError(
                f"the tool_schema of {self.settings.tool} in the tool YAML differs from the tool's declaration: "
                f"got {json.dumps(given)[:300]}, expected {json.dumps(expected)[:300]}; regenerate the YAML with "
                "agents.verl.write_tool_config (or leave tool_schema out to use the declaration)"
            )

    def get_declared_schema(self) -> Any:
        """The tool's schema from its declaration, under its function name, as verl's model."""
        from agents.verl.tool_config import tool_schemas

        OpenAIFunctionToolSchema = _verl("verl.tools.schemas").OpenAIFunctionToolSchema

        (schema,) = tool_schemas([self.settings.tool], self.settings.env_kwargs)
        return OpenAIFunctionToolSchema.model_validate(schema)

    def get_openai_tool_schema(self) -> Any:
        return self.get_declared_schema()

    async def create(self, instance_id: str | None = None, **kwargs: Any) -> tuple[str, Any]:
        """Record the row's ``create_kwargs`` under a new instance id (the episode starts at its first call)."""
        ToolResponse = _verl("verl.tools.schemas").ToolResponse
        instance_id = instance_id or uuid.uuid4().hex
        self._instances[instance_id] = dict(kwargs.get("create_kwargs") or {})
        return instance_id, ToolResponse()

    async def execute(
        self, instance_id: str, parameters: dict[str, Any], **kwargs: Any
    ) -> tuple[Any, float, dict[str, Any]]:
        """Run the call as one ``env.step`` of the episode of ``kwargs["agent_data"]``.

        Returns:
            (``ToolResponse`` with ``env.step``'s text and any tool images, the step reward, metrics).
        """
        ToolResponse = _verl("verl.tools.schemas").ToolResponse
        if instance_id not in self._instances:
            raise ValueError(f"{self.name}: unknown instance id {instance_id!r}; call create() first")
        episode = episode_for(kwargs.get("agent_data"), self._instances[instance_id], self.settings)
        self._requests[instance_id] = episode.request_id
        async with episode.lock:  # FIFO: a turn's calls reach the env in verl's order
            content, ok, reward = await asyncio.to_thread(episode.call, self.settings.tool, parameters)
        if self.settings.tool_reward == "toolshed":
            reward = TOOLSHED_SUCCESS_REWARD if ok else 0.0
        if isinstance(content, str):
            response = ToolResponse(text=content)
        else:
            images = [p["image"] for p in content if p["type"] == "image"]
            text = "".join(p.get("text", "") for p in content if p["type"] == "text")
            response = ToolResponse(text=text, image=images) if images else ToolResponse(text=text)
        return response, float(reward), {"ok": ok, "tool": self.settings.tool}

    async def calc_reward(self, instance_id: str, **kwargs: Any) -> float:
        """The episode's env reward so far (0.0 before its first call, or once it is freed)."""
        episode = live_episodes().get(self._requests.get(instance_id, ""))
        if episode is None or episode.environment is None:
            return 0.0
        return float(episode.environment.get_reward())

    async def release(self, instance_id: str, **kwargs: Any) -> None:
        """Forget the instance id; the episode lives on until verl drops its ``AgentData``."""
        self._instances.pop(instance_id, None)
        self._requests.pop(instance_id, None)


def verl_tool_class() -> type:
    """``SpaceToolsTool``: :class:`SpaceToolsToolMixin` on verl's ``BaseTool`` (built once).

    Raises:
        ImportError: verl is not installed (the message says how to install it).
    """
    cls = _CLASSES.get("SpaceToolsTool")
    if cls is None:
        base = _verl("verl.tools.base_tool").BaseTool
        cls = type("SpaceToolsTool", (SpaceToolsToolMixin, base), {"__module__": __name__,
                                                                    "__doc__": SpaceToolsToolMixin.__doc__})
        _CLASSES["SpaceToolsTool"] = cls
    return cast(type, cls)


def _verl(module: str) -> Any:
    """A verl module, imported at call time (so mypy and ``import agents.verl`` need no verl).

    Raises:
        ImportError: verl is not installed (the message says how to install it).
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(f"agents.verl.tools.SpaceToolsTool needs verl ({exc}); {_INSTALL_HINT}") from exc


def __getattr__(name: str) -> Any:
    if name == "SpaceToolsTool":
        return verl_tool_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "CLASS_NAME",
    "EPISODE_KEYS",
    "Episode",
    "SpaceToolsToolMixin",
    "ToolSettings",
    "episode_for",
    "live_episodes",
    "tools_kwargs",
    "verl_tool_class",
]
