"""Pointing oracles: ``roborefer.detect_one/detect_all`` and ``vlm.detect_one/detect_all``.

They stand in for RoboRefer-8B and Molmo-7B, which are asked "Point to the {obj_name} in this
image." and answer with normalized points. The oracle resolves ``obj_name`` against the image's
referents and answers with their ``point``. Output text, as the original tools print it::

    Detected 1 instance(s) of 'red mug': [(0.78, 0.494)]

(points rounded to 3 decimals and printed as a Python list of tuples). The ``vlm`` variants also
store the points as ``$<obj_name with spaces replaced by _>_detections`` and append
``" Use $red_mug_detections to reference them."``; like the original, only when something was
found (RoboRefer has variables forced off in the original, so ``roborefer`` stores nothing).

Resolving ``obj_name`` (deterministic; expressions compared after
:func:`~tool_backends.truth.normalize_expression` and singularising each word, so "cubes"
matches "cube"):

1. an exact match with a referent's name or alias;
2. an exact match with a referent's category (``detect_one`` takes the first such referent);
3. fuzzy: the content words (function words such as "on", "of", "in" dropped) of the query and
   of each expression are compared by F1 overlap, ``2 |q & e| / (|q| + |e|)``; the best referent
   wins if its F1 exceeds 0.5 (ties: more of the expression covered, then referent order). So
   "the red mug on the left" finds "red mug" (0.8), "mug" finds "red mug" (0.67), but "blue
   cup" does not find "red cup" (0.5).

``detect_all`` returns every referent that ties for the best match at the first step that finds
any, in the ground truth's referent order. Nothing found is not an error: the real tools say
``Detected 0 instance(s) of 'cup': []``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tool_backends.client import CallContext
from tool_backends.declaration import tool_method
from tool_backends.noise import ToolNoise
from tool_backends.oracle.base import OracleToolset
from tool_backends.result import ToolResult
from tool_backends.truth import GroundTruth, Referent, normalize_expression

_FUNCTION_WORDS = frozenset({
    "of", "on", "in", "at", "to", "into", "onto", "with", "and", "or", "by", "from", "for", "near",
    "next", "this", "that", "these", "those", "is", "are", "image", "picture", "photo", "scene",
    "please", "one",
})
_FUZZY_THRESHOLD = 0.5
_DECIMALS = 3


def singular(word: str) -> str:
    """Crude English singular, enough for object names ("boxes" -> "box", "cups" -> "cup")."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 4 and word.endswith(("ses", "xes", "zes", "ches", "shes")):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def _canonical(text: str) -> str:
    return " ".join(singular(w) for w in normalize_expression(text).split())


def _content(text: str) -> frozenset[str]:
    return frozenset(w for w in _canonical(text).split() if w not in _FUNCTION_WORDS)


@dataclass(frozen=True)
class _Entry:
    referent: Referent
    expressions: frozenset[str]
    category: str
    token_sets: tuple[frozenset[str], ...]


class ReferentIndex:
    """The referents of one image, prepared for matching names (built once per image)."""

    def __init__(self, referents: tuple[Referent, ...]) -> None:
        entries = []
        for ref in referents:
            names = (ref.name, *ref.aliases)
            category = _canonical(ref.category) if ref.category else ""
            tokens = [_content(n) for n in (*names, ref.category) if n]
            entries.append(_Entry(ref, frozenset(_canonical(n) for n in names), category,
                                  tuple(t for t in tokens if t)))
        self._entries = tuple(entries)

    def find(self, query: str) -> list[Referent]:
        """Referents that ``query`` denotes, best first (see the module docstring)."""
        canonical = _canonical(query)
        exact = [e.referent for e in self._entries if canonical in e.expressions]
        if exact:
            return exact
        by_category = [e.referent for e in self._entries if canonical and canonical == e.category]
        if by_category:
            return by_category
        words = _content(query)
        if not words:
            return []
        scored = [(self._score(words, e), i) for i, e in enumerate(self._entries)]
        best = max((s for s, _ in scored), default=(0.0, 0.0))
        if best[0] <= _FUZZY_THRESHOLD:
            return []
        return [self._entries[i].referent for s, i in scored if s == best]

    @staticmethod
    def _score(words: frozenset[str], entry: _Entry) -> tuple[float, float]:
        best = (0.0, 0.0)
        for tokens in entry.token_sets:
            common = len(words & tokens)
            best = max(best, (2.0 * common / (len(words) + len(tokens)), common / len(tokens)))
        return best


def _format_points(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    return [(round(float(x), _DECIMALS), round(float(y), _DECIMALS)) for x, y in points]


class _PointingOracle(OracleToolset):
    """Shared logic of the two pointing namespaces; ``stores_variables`` tells them apart."""

    noisy_tools = ("detect_one", "detect_all")
    stores_variables = False

    def _index(self, truth: GroundTruth) -> ReferentIndex:
        return self._cache.get(truth, "referents", lambda: ReferentIndex(truth.referents))

    def _detect(self, ctx: CallContext, obj_name: str, image_index: int, *, one: bool) -> ToolResult:
        truth = ctx.truth(image_index)
        found = self._index(truth).find(obj_name)
        if one:
            found = found[:1]
        noise = self.noise("detect_one" if one else "detect_all")
        exact, found = found, _fail(found, truth.referents, noise, ctx.rng, one=one)
        points = _format_points([noise.jitter(r.point, ctx.rng) for r in found])
        text = f"Detected {len(points)} instance(s) of '{obj_name}': {points}"
        variables = {}
        if self.stores_variables and points:
            name = f"{obj_name.replace(' ', '_')}_detections"
            variables[name] = points
            text += f" Use ${name} to reference them."
        return ToolResult(ok=True, text=text, variables=variables,
                          data={"points": points, "referents": [r.name for r in found]},
                          fault=pointing_fault(exact, found))


def pointing_fault(exact: list[Referent], found: list[Referent]) -> str | bool:
    """The fault of a detection that found ``found`` where the exact tool finds ``exact``.

    ``"failure"`` when it lost every referent, ``"wrong"`` when it names another one, False when
    it found the same referents (a failure drawn on a query that matches nothing changes nothing).
    """
    if len(found) == len(exact) and all(f is e for f, e in zip(found, exact, strict=True)):
        return False
    return "failure" if not found else "wrong"


def _fail(
    found: list[Referent],
    referents: tuple[Referent, ...],
    noise: ToolNoise,
    rng: np.random.Generator,
    *,
    one: bool,
) -> list[Referent]:
    """Apply a pointing failure: nothing found, or a wrong referent instead of (one of) the right ones."""
    if not noise.fails(rng):
        return found
    # Identity, not ==: referents hold arrays, so dataclass equality is ambiguous.
    others = [r for r in referents if all(r is not f for f in found)]
    if not found or not others or rng.random() < 0.5:
        return []
    wrong = others[int(rng.integers(len(others)))]
    if one:
        return [wrong]
    replaced = int(rng.integers(len(found)))
    return [wrong if i == replaced else r for i, r in enumerate(found)]


class RoboreferOracle(_PointingOracle):
    """``roborefer.*``: RoboRefer-8B pointing, answered from the ground truth."""

    namespace = "roborefer"

    @tool_method
    def detect_one(self, ctx: CallContext, obj_name: str, image_index: int) -> ToolResult:
        """Detect one instance of obj_name in the image.

        Text output: coordinates of a single point on the first instance of the object, as a list
        [(x, y)] in normalized image coordinates in [0, 1] (origin top-left, x right, y down).

        Args:
            obj_name: Name or description of the object or region to point at.
            image_index: 0-based index of an image already present in the conversation. Use this
                to reference an inline image by its order (0 = first, 1 = second, ...).
        """
        return self._detect(ctx, obj_name, image_index, one=True)

    @tool_method
    def detect_all(self, ctx: CallContext, obj_name: str, image_index: int) -> ToolResult:
        """Detect all instances of obj_name in the image.

        Text output: list of point coordinates [(x, y), ...] for the detected objects, in
        normalized image coordinates in [0, 1] (origin top-left, x right, y down).

        Args:
            obj_name: Name or description of the objects to point at.
            image_index: 0-based index of an image already present in the conversation. Use this
                to reference an inline image by its order (0 = first, 1 = second, ...).
        """
        return self._detect(ctx, obj_name, image_index, one=False)


class VlmOracle(_PointingOracle):
    """``vlm.*``: Molmo-7B pointing, answered from the ground truth; stores ``$<obj>_detections``."""

    namespace = "vlm"
    stores_variables = True

    @tool_method
    def detect_one(self, ctx: CallContext, obj_name: str, image_index: int) -> ToolResult:
        """Detect one instance of obj_name in the image.

        Text output: coordinates of a single point on the first instance of the object, as a list
        [(x, y)] in normalized image coordinates in [0, 1] (origin top-left, x right, y down).
        Stored variables: the points in $<obj_name>_detections (spaces replaced by _), a list of
        (x, y) normalized coordinates for use in subsequent operations.

        Args:
            obj_name: Name or description of the object or region to point at.
            image_index: 0-based index of an image already present in the conversation. Use this
                to reference an inline image by its order (0 = first, 1 = second, ...).
        """
        return self._detect(ctx, obj_name, image_index, one=True)

    @tool_method
    def detect_all(self, ctx: CallContext, obj_name: str, image_index: int) -> ToolResult:
        """Detect all instances of obj_name in the image.

        Text output: list of point coordinates [(x, y), ...] for the detected objects, in
        normalized image coordinates in [0, 1] (origin top-left, x right, y down).
        Stored variables: the points in $<obj_name>_detections (spaces replaced by _), a list of
        (x, y) normalized coordinates for use in subsequent operations.

        Args:
            obj_name: Name or description of the objects to point at.
            image_index: 0-based index of an image already present in the conversation. Use this
                to reference an inline image by its order (0 = first, 1 = second, ...).
        """
        return self._detect(ctx, obj_name, image_index, one=False)


__all__ = ["ReferentIndex", "RoboreferOracle", "VlmOracle", "pointing_fault", "singular"]
