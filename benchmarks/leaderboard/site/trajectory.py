"""The trajectory viewer: one static page per replayed episode, every turn with its tool results
drawn on the image the tool looked at (points, masks, boxes, grasps as SVG over the picture)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from benchmarks.leaderboard.replay import Replay, ToolCall
from benchmarks.leaderboard.site.assets import Assets
from benchmarks.leaderboard.site.html import e, page
from spacetools_env.overlays import BoxShape, GraspShape, MaskShape, PointsShape, Shape, answer_shapes, result_shapes
from tool_backends.geometry import BOX_EDGES

COLOURS = {"answer": "#ff2fd0", "reference": "#00d5ff"}
TOOL_COLOUR = "#ffd400"


def svg_overlay(shapes: Sequence[Shape], width: int, height: int, assets: Assets, root: str) -> str:
    """The shapes as an SVG in the image's pixel frame, laid over it by CSS (``.fig svg.overlay``)."""
    if not shapes:
        return ""
    r = max(4.0, height / 70)
    stroke = max(2.0, height / 240)
    parts = []
    for shape in sorted(shapes, key=lambda s: not isinstance(s, MaskShape)):
        colour = COLOURS.get(shape.label, TOOL_COLOUR)
        kind = shape.label if shape.label in COLOURS else "tool"
        if isinstance(shape, MaskShape):
            if shape.mask.shape == (height, width):
                href = root + assets.mask(shape.mask)
                size = f'width="{width}" height="{height}"'
                parts.append(f'<image class="mask {kind}" href="{href}" x="0" y="0" {size}/>')
            continue
        if isinstance(shape, PointsShape):
            parts += [
                f'<circle class="point {kind}" cx="{x * width:.1f}" cy="{y * height:.1f}" r="{r:.1f}" '
                f'fill="{colour}" stroke="#000" stroke-width="1.5"/>'
                for x, y in shape.points
            ]
            continue
        if isinstance(shape, BoxShape):
            pts = [(x * width, y * height) for x, y in shape.corners]
            segments = [(pts[i], pts[j]) for i, j in BOX_EDGES]
            cls = "box"
        else:
            assert isinstance(shape, GraspShape)
            centre, left_base, right_base, left_tip, right_tip = ((x * width, y * height) for x, y in shape.keypoints)
            segments = [(left_base, right_base), (left_base, left_tip), (right_base, right_tip)]
            parts.append(f'<circle class="grasp-centre {kind}" cx="{centre[0]:.1f}" cy="{centre[1]:.1f}" '
                         f'r="{r * 0.7:.1f}" fill="{colour}"/>')
            cls = "grasp"
        lines = "".join(
            f'<line x1="{a[0]:.1f}" y1="{a[1]:.1f}" x2="{b[0]:.1f}" y2="{b[1]:.1f}"/>' for a, b in segments
        )
        dash = f' stroke-dasharray="{3 * stroke:.1f} {2 * stroke:.1f}"' if kind == "reference" else ""
        parts.append(f'<g class="{cls} {kind}" stroke="{colour}" stroke-width="{stroke:.1f}"{dash}>{lines}</g>')
    return (
        f'<svg class="overlay" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'preserveAspectRatio="none">{"".join(parts)}</svg>'
    )


def figure(replay: Replay, index: int, shapes: Sequence[Shape], assets: Assets, root: str, caption: str) -> str:
    """Image ``index`` of the episode with ``shapes`` drawn over it."""
    if not 0 <= index < len(replay.images):
        return f'<p class="muted">(image {index} does not exist in this episode)</p>'
    image = replay.images[index]
    height, width = image.shape[:2]
    src = root + assets.image(image)
    overlay = svg_overlay(shapes, width, height, assets, root)
    return (
        f'<div class="fig"><img src="{src}" width="{width}" height="{height}" alt="image {index}">{overlay}'
        f'<div class="caption">{e(caption)}</div></div>'
    )


def _image_index(arguments: Any) -> int:
    if isinstance(arguments, Mapping):
        value = arguments.get("image_index", 0)
        if isinstance(value, float) and value.is_integer():  # the tools accept 1.0 for 1
            value = int(value)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return 0


def _call_html(call: ToolCall, replay: Replay, assets: Assets, root: str) -> str:
    import json

    arguments = json.dumps(call.arguments, default=str)
    shapes = result_shapes(call.data, call.name)
    figs = ""
    if shapes:
        index = _image_index(call.arguments)
        figs += figure(replay, index, shapes, assets, root, f"{call.name} drawn on image {index}")
    figs += "".join(figure(replay, i, [], assets, root, f"image {i}, returned by {call.name}") for i in call.images)
    status = "" if call.ok else " error"
    return (
        f'<div class="call{status}"><span class="tool-name">{e(call.name)}</span> '
        f'<code>{e(arguments)}</code>{"" if call.ok else " <b>failed</b>"}'
        f"<pre>{e(call.text)}</pre>{figs}</div>"
    )


def episode_page(replay: Replay, record: Mapping[str, Any], submission: str, assets: Assets) -> str:
    """The viewer page of one episode (it lives two folders below the site root)."""
    root = "../../"
    key = record["key"]
    title = f"{key['env_id']} #{key['index']}"
    score = replay.score
    score_cls = "ok" if score is not None and score >= 0.5 else "bad"
    score_text = "skipped by the official scorer" if score is None or score != score else f"{score:.3f}"
    size = (replay.images[0].shape[1], replay.images[0].shape[0]) if replay.images else None
    body = [
        f'<nav><a href="{root}index.html">Leaderboard</a> / <a href="index.html">{e(submission)}</a></nav>',
        f"<h1>{e(title)}</h1>",
        f'<p class="muted">split {e(key["split"])} &middot; item {e(record.get("item_id"))} &middot; '
        f'seed {e(record["seed"])} &middot; {len(replay.turns)} turn(s)</p>',
    ]
    if replay.differences:
        items = "".join(f"<li>{e(d)}</li>" for d in replay.differences)
        body.append(f'<div class="warn differences">The replay differs from the record:<ul>{items}</ul></div>')
    body.append("<h2>Question</h2>")
    body.append(f"<pre>{e(replay.question)}</pre>")
    questions = range(replay.question_images)
    body.append("".join(figure(replay, i, [], assets, root, f"question image {i}") for i in questions))
    for t, turn in enumerate(replay.turns, start=1):
        calls = "".join(_call_html(c, replay, assets, root) for c in turn.calls)
        errors = "".join(f'<div class="call error"><span class="tool-name">invalid action</span>'
                         f"<pre>{e(text)}</pre></div>" for text in turn.errors)
        action = f'<div class="muted">model</div><pre class="action">{e(turn.action)}</pre>'
        body.append(f'<section class="turn" id="turn-{t}"><h3>Turn {t}</h3>{action}{errors}{calls}</section>')
    body.append("<h2>Answer</h2>")
    if replay.answer is None:
        body.append('<p class="score bad">No answer: the episode ran out of turns.</p>')
    else:
        shapes = answer_shapes(replay.answer, replay.eval_key, size)
        body.append(f'<p>Answer <code class="answer">{e(replay.answer)}</code> &middot; official score '
                    f'<span class="score {score_cls}">{e(score_text)}</span></p>')
        reference = [replace(s, label="reference") for s in answer_shapes(replay.reference, replay.eval_key, size)]
        if shapes and replay.images:
            caption = "the answer (magenta) and the reference (cyan) on the question image"
            body.append(figure(replay, 0, reference + shapes, assets, root, caption))
    body.append(f'<p class="muted">Reference answer: <code class="reference">{e(replay.reference)}</code></p>')
    return page(f"{title} - {submission}", "\n".join(body), root=root)
