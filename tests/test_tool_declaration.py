"""A tool is declared once: its docstring and type hints are the model's schema and the argument checks."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tool_backends import DEFAULT_TOOLS, ToolError, ToolResult, Toolset, Variable, make_client, tool_method
from tool_backends.declaration import spec_from_function

IMAGE_INDEX = "0-based index of an image already present in the conversation."

# name -> [(argument, JSON type)], in schema order; every argument is required.
EXPECTED_ARGUMENTS = {
    "roborefer.detect_one": [("obj_name", "string"), ("image_index", "integer")],
    "roborefer.detect_all": [("obj_name", "string"), ("image_index", "integer")],
    "vlm.detect_one": [("obj_name", "string"), ("image_index", "integer")],
    "vlm.detect_all": [("obj_name", "string"), ("image_index", "integer")],
    "depth_estimator.estimate_depth": [("image_index", "integer")],
    "depth_estimator.estimate_depth_with_pointcloud": [("image_index", "integer")],
    "sam2.segment_from_point": [("x", "number"), ("y", "number"), ("image_index", "integer")],
    "sam2.segment_from_points": [("points", "array"), ("image_index", "integer")],
    "vision_ops.index_at": [("data", "string"), ("u", "number"), ("v", "number")],
    "bounding_box.compute_bbox": [
        ("point_cloud", "string"), ("mask", "string"), ("focal_length_px", "string"),
    ],
}


# ----------------------------------------------------------------------------- the default tools
def test_default_tools_are_the_original_ten_in_order():
    assert tuple(EXPECTED_ARGUMENTS) == DEFAULT_TOOLS
    assert [spec.name for spec in make_client().specs] == list(DEFAULT_TOOLS)


@pytest.mark.parametrize("name", DEFAULT_TOOLS)
def test_schema_is_openai_function_format_with_the_original_arguments(name):
    spec = {s.name: s for s in make_client().specs}[name]
    schema = spec.openai_schema()
    json.dumps(schema)  # serialisable as is
    assert set(schema) == {"type", "function"} and schema["type"] == "function"
    function = schema["function"]
    assert set(function) == {"name", "description", "parameters"}
    assert function["name"] == name
    assert len(function["description"]) > 20
    parameters = function["parameters"]
    assert parameters["type"] == "object"
    expected = EXPECTED_ARGUMENTS[name]
    assert [(k, v["type"]) for k, v in parameters["properties"].items()] == expected
    assert parameters["required"] == [arg for arg, _ in expected]
    for prop in parameters["properties"].values():
        assert prop["description"]
    if "image_index" in parameters["properties"]:
        assert parameters["properties"]["image_index"]["description"].startswith(IMAGE_INDEX)


def test_point_list_schema_is_an_array_of_pairs():
    spec = {s.name: s for s in make_client().specs}["sam2.segment_from_points"]
    points = spec.openai_schema()["function"]["parameters"]["properties"]["points"]
    assert points["items"] == {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2}


def test_descriptions_name_coordinate_frames_and_stored_variables():
    specs = {s.name: s for s in make_client().specs}
    assert "normalized image coordinates" in specs["roborefer.detect_one"].description
    assert "$<obj_name>_detections" in specs["vlm.detect_one"].description
    assert "$<obj_name>_detections" not in specs["roborefer.detect_one"].description
    assert "$depth_map" in specs["depth_estimator.estimate_depth"].description
    assert "x right, y down, z forward" in specs["depth_estimator.estimate_depth_with_pointcloud"].description
    assert "$segmentation_mask" in specs["sam2.segment_from_point"].description
    assert "OpenCV camera frame" in specs["bounding_box.compute_bbox"].description


# ----------------------------------------------------------------------------- docstring parsing
def _spec(func):
    return spec_from_function("t.f", func)


def test_parses_summary_types_and_multiline_arguments():
    def f(ctx, name: str, count: int = 3, scale: float | None = None) -> ToolResult:
        """Do the thing.

        A second paragraph of description,
        wrapped over two lines.

        Args:
            name (str): The name, e.g. "red mug".
                Continues here: with a colon that is not a new argument.
            count (int, optional): How many
                to return.
            scale:
                Described on the next line only.

        Returns:
            ToolResult: Not part of the schema.

        Raises:
            ToolError: Not part of the schema either.
        """

    spec = _spec(f)
    assert spec.description == "Do the thing. A second paragraph of description, wrapped over two lines."
    docs = {p.name: p.description for p in spec.params}
    assert docs == {
        "name": 'The name, e.g. "red mug". Continues here: with a colon that is not a new argument.',
        "count": "How many to return.",
        "scale": "Described on the next line only.",
    }
    schema = spec.openai_schema()["function"]["parameters"]
    assert schema["required"] == ["name"]
    assert schema["properties"]["scale"]["type"] == "number"
    assert [p.default for p in spec.params] == [None, 3, None]


def test_nested_types_in_parentheses_and_other_sections_are_handled():
    def f(ctx, pairs: list[tuple[float, float]], data: Variable) -> ToolResult:
        """Summary.

        Args:
            pairs (list[tuple[float, float]]): Points.
            data (Callable[[int], tuple(int)]): A stored value.

        Keyword Args:
            ignored: Not a parameter of f, harmless.

        Attributes:
            nothing: Not an argument.

        Note:
            Also not an argument.
        """

    spec = _spec(f)
    assert {p.name: p.description for p in spec.params} == {"pairs": "Points.", "data": "A stored value."}
    assert spec.description == "Summary."
    props = spec.openai_schema()["function"]["parameters"]["properties"]
    assert props["data"]["type"] == "string"
    assert props["pairs"]["items"]["minItems"] == 2


def _undocumented(ctx, a: int) -> ToolResult:
    """Summary."""


def _unhinted(ctx, a) -> ToolResult:  # the missing hint on `a` is the point
    """Summary.

    Args:
        a: A.
    """


def _no_summary(ctx, a: int) -> ToolResult:
    """
    Args:
        a: A.
    """


def _star_args(ctx, *rest: int) -> ToolResult:
    """Summary.

    Args:
        *rest: R.
    """


@pytest.mark.parametrize(
    ("func", "message"),
    [
        (_undocumented, "parameter 'a' needs an 'Args:' docstring entry"),
        (_unhinted, "parameter 'a' needs a type hint"),
        (_no_summary, "needs a docstring summary"),
        (_star_args, r"\*rest is not allowed"),
    ],
)
def test_incomplete_declarations_fail_loudly(func, message):
    with pytest.raises(TypeError, match=message):
        _spec(func)


# ----------------------------------------------------------------------------- binding
def _bind_spec():
    def f(ctx, i: int, x: float, flag: bool, names: list[str], pair: tuple[int, int], data: Variable,
          maybe: float | None = None) -> ToolResult:
        """Summary.

        Args:
            i: An integer.
            x: A number.
            flag: A switch.
            names: Names.
            pair: Two integers.
            data: A stored value.
            maybe: Optional.
        """

    return _spec(f)


GOOD = {"i": 2.0, "x": 1, "flag": True, "names": ["a"], "pair": [1, 2], "data": np.ones(3)}


def test_bind_coerces_json_values():
    bound = _bind_spec().bind(GOOD)
    assert bound["i"] == 2 and isinstance(bound["i"], int)
    assert bound["x"] == 1.0 and isinstance(bound["x"], float)
    assert bound["pair"] == (1, 2)
    assert bound["maybe"] is None
    assert bound["data"] is GOOD["data"]
    assert _bind_spec().bind({**GOOD, "names": np.array(["b"])})["names"] == ["b"]


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"i": 2.5}, "argument 'i' must be an integer, got 2.5 (float)"),
        ({"i": True}, "argument 'i' must be an integer"),
        ({"i": "2"}, "argument 'i' must be an integer, got '2' (str)"),
        ({"x": float("nan")}, "argument 'x' must be a finite number"),
        ({"x": "1.0"}, "argument 'x' must be a number"),
        ({"flag": 1}, "argument 'flag' must be true or false"),
        ({"names": "a"}, "argument 'names' must be a list"),
        ({"names": ["a", 3]}, "argument 'names[1]' must be a string"),
        ({"pair": [1, 2, 3]}, "argument 'pair' must have 2 items, got 3"),
        ({"data": "$nothing"}, "variable $nothing is not defined"),
        ({"maybe": "x"}, "argument 'maybe' must be a number"),
        ({"extra": 1}, "got unexpected argument(s) ['extra']"),
    ],
)
def test_bind_rejects_bad_arguments_with_the_reason(override, message):
    with pytest.raises(ToolError) as info:
        _bind_spec().bind({**GOOD, **override})
    assert message in str(info.value)


def test_bind_reports_missing_arguments_with_their_description():
    arguments = dict(GOOD)
    del arguments["x"]
    with pytest.raises(ToolError, match=r"t.f is missing required argument 'x' \(A number.\)"):
        _bind_spec().bind(arguments)


# ----------------------------------------------------------------------------- toolsets
class _Counter(Toolset):
    namespace = "counter"

    @tool_method
    def second(self, ctx, n: int) -> ToolResult:
        """Second in name order, first in definition order.

        Args:
            n: A number.
        """
        return ToolResult(ok=True, text=str(n))

    @tool_method
    def first(self, ctx) -> ToolResult:
        """No arguments at all."""
        return ToolResult(ok=True, text="first")

    def _helper(self) -> None:
        """Not a tool."""


def test_toolset_publishes_decorated_methods_in_definition_order():
    specs = [spec for spec, _ in _Counter().tools()]
    assert [s.name for s in specs] == ["counter.second", "counter.first"]
    empty = {"type": "object", "properties": {}, "required": []}
    assert specs[1].openai_schema()["function"]["parameters"] == empty


def test_toolset_without_namespace_is_rejected():
    class Nameless(Toolset):
        pass

    with pytest.raises(TypeError, match="must set a 'namespace'"):
        list(Nameless().tools())
