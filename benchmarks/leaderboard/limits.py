"""The validator's documented limits: what a submission may weigh, nest and ask the validator to build.

Every limit is checked before the work it bounds (parsing, re-scoring, building an env), so the
cost of a validation is set by these numbers, not by the submission. Two kinds:

- :class:`Limits`: sizes and per-record complexity (the tests lower them to test each rejection).
- The make-option limits below: what ``envs[].make_kwargs`` in ``manifest.json`` may ask
  ``gym.make`` for. They are the env's own limits (:class:`spacetools_env.config.EnvConfig`,
  :class:`spacetools_env.world.SceneConfig`) narrowed to what a re-scoring machine can afford:
  e.g. ``SceneConfig`` accepts 4096x4096 images, the validator renders at most
  :data:`MAX_IMAGE_PIXELS` (1024x768) per image.
"""

from __future__ import annotations

from dataclasses import dataclass

MB = 1 << 20


@dataclass(frozen=True)
class Limits:
    """Size and complexity limits of a submission (documented; the tests lower them to test the rejection).

    Attributes:
        results_bytes: ``results.jsonl`` (the paper suite with full trajectories is ~30 MB).
        record_bytes: One line of ``results.jsonl`` (images are references, never pixels).
        manifest_bytes: ``manifest.json``.
        submission_bytes: ``submission.json``.
        total_bytes: Everything in the directory together.
        max_files: Files in the directory, at any depth.
        max_depth: JSON nesting (objects and arrays) of a record, the manifest or submission.json;
            a record as ``spacetools eval`` writes it nests about 8 deep.
        max_turns: Actions of one record (the env's default ``max_turns`` is 8; the make options
            allow at most :data:`MAX_TURNS`).
        max_action_chars: Characters of one action (the env's parser caps what it reads well
            below this; a longer action cannot come from a sane generation budget).
        max_calls: Tool calls recorded in one record (``trajectory.tool_calls``, all turns): the
            most the make options allow (:data:`MAX_TURNS` x :data:`MAX_CALLS_PER_TURN`).
        max_call_blocks: ``<tool_call>`` blocks in one action (the env runs at most
            ``max_calls_per_turn`` of them; more are invalid actions, never tool runs). Parsing
            one costs about 5 us, a normal record's whole check about 1 ms: this bounds it.
        max_images: Image parts in one record's messages (question images, and one per tool
            call at most with ``tool_images=True``).
        max_references: ``$name`` variable references in one record's actions (2 per call of the
            most tool calls the make options allow; each pastes at most the env's per-call
            interpolation cap when replayed).
    """

    results_bytes: int = 256 * MB
    record_bytes: int = 1 * MB
    manifest_bytes: int = 4 * MB
    submission_bytes: int = 64 * 1024
    total_bytes: int = 512 * MB
    max_files: int = 64
    max_depth: int = 32
    max_turns: int = 64
    max_action_chars: int = 128 * 1024
    max_calls: int = 2048
    max_call_blocks: int = 64
    max_images: int = 2048 + 16
    max_references: int = 4096

    def __post_init__(self) -> None:
        for name, value in self.__dict__.items():
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"Limits.{name} must be a positive integer, got {value!r}")


# ------------------------------------------------------------------ make options (manifest.json)
MAX_TURNS = 64
"""``max_turns`` (EnvConfig: any positive int; default 8)."""
MAX_CALLS_PER_TURN = 32
"""``max_calls_per_turn`` (EnvConfig: any positive int; default 8)."""
MAX_RESPONSE_CHARS = 64 * 1024
"""``max_response_chars`` (EnvConfig: at least 32; default 2,048)."""
MAX_ACTION_CHARS = 128 * 1024
"""``max_action_chars`` (EnvConfig: any positive int; default 65,536), as :attr:`Limits.max_action_chars`."""
MAX_TOOLS = 64
"""Names in ``tools``."""
MAX_NAME_CHARS = 128
"""Characters of one tool name, reward-weight name or preset name."""
MAX_REWARD_WEIGHTS = 16
"""Entries of ``reward_weights``."""
MAX_WEIGHT = 1000.0
"""Largest ``abs(weight)`` in ``reward_weights``."""
MAX_IMAGE_SIDE = 1024
"""``difficulty`` ``width`` / ``height`` in pixels (SceneConfig: 32 to 4096; default 640x480)."""
MAX_IMAGE_PIXELS = 1024 * 768
"""``width * height`` of a rendered scene (2.56 times the default 640x480)."""
MAX_SCENE_OBJECTS = 16
"""``difficulty`` ``num_objects`` maximum (SceneConfig's own ``MAX_OBJECTS``)."""
MAX_MIN_VISIBLE_PX = 1000
"""``difficulty`` ``min_visible_px`` (SceneConfig: up to 5,000; default 150). A scene whose objects
show fewer pixels is resampled (up to 50 renders per item), so a large value multiplies the cost."""
MAX_OPTIONS_BYTES = 4096
"""``source_options`` (and any other JSON option value) serialized, in bytes."""
