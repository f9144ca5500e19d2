"""The settings of one :class:`~spacetools_env.env.SpaceToolsEnv`, validated once."""

from __future__ import annotations

import difflib
import inspect
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

from spacetools_env.parsing import MAX_ACTION_CHARS
from spacetools_env.rewards import resolve_weights
from tool_backends import ToolClient

ClientFactory = Callable[[], ToolClient]


class UnknownOptionError(TypeError, ValueError):
    """A ``gym.make`` option no env takes: a ``TypeError`` as for any unexpected keyword, and a
    ``ValueError`` as for the config's other bad options (what the ``spacetools`` CLI reports)."""


@dataclass(frozen=True)
class EnvConfig:
    """Everything ``gym.make(id, **kwargs)`` accepts besides the task.

    Attributes:
        split: Which items to draw (``train``, ``validation``, ``test``); ``reset`` options may override.
        difficulty: Scene preset (``easy``/``medium``/``hard``), a ``SceneConfig``, or overrides dict.
        max_turns: Assistant turns before ``truncated`` (8, as the original).
        max_calls_per_turn: Tool calls run per turn; extra calls are reported as errors (8).
        max_response_chars: Tool response text cap, middle-truncated (2,048, as the original).
        max_action_chars: Longest action read per turn (65,536 = 64 KiB); a longer one is refused
            whole with an ``Error:`` naming the cap, before any parsing, so no turn costs more.
        tools: Names of the tools offered (None: the backend's default set), e.g. the
            pointing-only Phase 1 set ``("roborefer.detect_one",)``; ``[]`` offers none (the no-tool
            mode: no ``# Tools`` block, the model answers directly).
        tool_backend: Backend name for the built-in client (``oracle``).
        tool_options: Backend options, e.g. ``{"noise": {"roborefer": ToolNoise(point_sigma=0.02)}}``.
        tool_client: A factory returning a :class:`~tool_backends.ToolClient` (e.g. a remote
            server's client); overrides ``tool_backend``. A factory, so the env stays picklable.
        reward_weights: Overrides of :data:`spacetools_env.rewards.DEFAULT_WEIGHTS`.
        tool_images: Show images returned by tools to the model (off, as in the original).
        tools_in_system_prompt: Append the Qwen2.5 ``# Tools`` block to the system message;
            turn off when your chat template renders ``info["tools"]`` itself.
        num_items: Items per split for synthetic sources (None: the source's defaults).
        data_dir: Where a benchmark's local copy lives (benchmark sources only; see
            :mod:`spacetools_env.loaders.paths` for the lookup order when None).
        source_options: Keyword arguments for the id's item-source factory (benchmark ids), JSON
            values only so runs can record them, e.g. ``{"dataset": "lmo", "names": {"1": "ape"}}``
            for ``SpaceTools-BOPScenes-Pose-v0`` (empty or None: the registered defaults). An option
            the factory does not take is an error at ``gym.make`` naming the options it does take;
            so are options for an id whose items are synthetic.
    """

    split: str = "train"
    difficulty: Any = "medium"
    max_turns: int = 8
    max_calls_per_turn: int = 8
    max_response_chars: int = 2048
    max_action_chars: int = MAX_ACTION_CHARS
    tools: Sequence[str] | None = None
    tool_backend: str = "oracle"
    tool_options: Mapping[str, Any] = field(default_factory=dict)
    tool_client: ClientFactory | None = None
    reward_weights: Mapping[str, float] | None = None
    tool_images: bool = False
    tools_in_system_prompt: bool = True
    num_items: Mapping[str, int] | None = None
    data_dir: str | None = None
    source_options: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("max_turns", "max_calls_per_turn", "max_response_chars", "max_action_chars"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if self.max_response_chars < 32:
            raise ValueError(f"max_response_chars must be at least 32, got {self.max_response_chars}")
        if self.tools is not None and (isinstance(self.tools, str) or not all(isinstance(t, str) for t in self.tools)):
            raise ValueError(f"tools must be a list of tool names, got {self.tools!r}")
        if self.tool_client is not None and not callable(self.tool_client):
            raise ValueError("tool_client must be a factory (a callable returning a ToolClient)")
        resolve_weights(self.reward_weights)
        object.__setattr__(self, "source_options", _json_options(self.source_options))

    @property
    def weights(self) -> dict[str, float]:
        return resolve_weights(self.reward_weights)

    @classmethod
    def from_options(cls, options: Mapping[str, Any], *, env_options: Sequence[str] = ()) -> EnvConfig:
        """The config for ``gym.make`` keyword ``options``; a misspelt name gets a "did you mean".

        Args:
            options: The keyword arguments ``gym.make`` passed on (besides the env's own).
            env_options: Names the env takes itself (``render_mode``), offered as suggestions too.

        Raises:
            UnknownOptionError: naming the unknown option, the closest known one and every option.
        """
        known = sorted({f.name for f in fields(cls)} | set(env_options))
        for name in options:
            if name not in known:
                hint = difflib.get_close_matches(str(name), known, n=1)
                raise UnknownOptionError(
                    f"unknown gym.make option {name!r}." + (f" Did you mean {hint[0]!r}?" if hint else "")
                    + f" Options: {known} (documented in spacetools_env.config.EnvConfig)"
                )
        return cls(**options)


def _json_options(options: Any) -> dict[str, Any]:
    """``source_options`` as a plain dict, checked to be JSON (what a run's manifest can record); None: none."""
    if options is None:
        return {}
    if not isinstance(options, Mapping) or not all(isinstance(k, str) for k in options):
        raise ValueError(
            f"source_options must be a mapping of option names (str) to JSON values, got {options!r}; "
            'e.g. source_options={"dataset": "lmo"}'
        )
    try:
        json.dumps(dict(options), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"source_options must hold JSON values only (str, number, bool, None, lists, dicts), got {options!r}: {exc}"
        ) from None
    return dict(options)


def source_factory_options(factory: Callable[..., Any]) -> list[str] | None:
    """The keyword options a source factory leaves open besides ``(family, config)``; None: any (``**kwargs``).

    Keywords a ``functools.partial`` already binds (the family's ``build``, a parquet ``key``) are
    not options: the registered id fixes them.
    """
    try:
        parameters = list(inspect.signature(factory).parameters.values())
    except (TypeError, ValueError):  # a callable without a signature: let the call decide
        return None
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return None
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    family_and_config = [p.name for p in parameters if p.kind in positional][:2]
    bound = getattr(factory, "keywords", None) or {}
    return [
        p.name for p in parameters
        if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        and p.name not in family_and_config and p.name not in bound
    ]


def check_source_options(factory: Callable[..., Any], options: Mapping[str, Any]) -> None:
    """Raise a clear error when ``factory`` does not take one of ``options``.

    Raises:
        ValueError: naming the option, the factory and the options it takes.
    """
    accepted = source_factory_options(factory)
    if accepted is None:
        return
    bound = getattr(factory, "keywords", None) or {}
    target = getattr(factory, "func", factory)
    label = getattr(target, "__qualname__", type(target).__name__)
    for name in options:
        if name in accepted:
            continue
        takes = f"it accepts {accepted}" if accepted else "it accepts no options"
        if name in bound:
            raise ValueError(f"source_options: option {name!r} is fixed by this id's item source {label} "
                             f"({name}={bound[name]!r}); {takes}")
        hint = difflib.get_close_matches(name, accepted, n=1)
        raise ValueError(f"source_options: unknown option {name!r} for the item source {label}; {takes}."
                         + (f" Did you mean {hint[0]!r}?" if hint else ""))
