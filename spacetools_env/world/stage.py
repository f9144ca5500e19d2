"""The static set every scene shares: a floor and a table.

The table is two bodies: its top surface, which alone carries ``TABLE_LABEL``, and a frame (the
apron's sides and four legs) that reads as background. Splitting them makes the table-top
segmentation exact without thresholding depth.

Cameras always look down from above the table top, so the set is built from upward and outward
facing quads only: TinyRenderer loops over every pixel of each triangle's screen bounding box,
and the hidden faces of boxes (bottoms, slab tops) would cost as much as the visible ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from spacetools_env.world.bullet import pb
from spacetools_env.world.meshes import quads_mesh
from spacetools_env.world.scene import TableTop

TABLE_SIZE_M = (2.0, 1.5)
"""(x, y) size of the table top; large enough to fill most views of the presets."""
TABLE_HEIGHT_M = 0.75
"""Height of the table-top surface above the floor (z = 0)."""

_APRON_DEPTH = 0.04
_LEG_WIDTH = 0.06
_FLOOR_HALF_SIZE = 8.0
_TOP_RGBA = (0.80, 0.70, 0.55, 1.0)
_FRAME_RGBA = (0.55, 0.43, 0.30, 1.0)
_FLOOR_RGBA = (0.42, 0.42, 0.45, 1.0)

Quad = Sequence[Sequence[float]]


@dataclass(frozen=True)
class Stage:
    """Body ids of the static set in one PyBullet client.

    Attributes:
        table_top: Body of the table-top surface.
        background: Bodies labelled as background (floor, table frame).
        table: Geometry of the table top.
    """

    table_top: int
    background: tuple[int, ...]
    table: TableTop


def _quad_body(
    client: int,
    quads: Sequence[Quad],
    rgba: tuple[float, ...],
    collision_half: list[float],
    collision_pos: list[float],
) -> int:
    """A static body drawn as ``quads``, with a box collision shape so the set supports physics."""
    visual = pb.createVisualShape(
        pb.GEOM_MESH, rgbaColor=rgba, physicsClientId=client, **quads_mesh(quads).shape_kwargs()
    )
    collision = pb.createCollisionShape(
        pb.GEOM_BOX, halfExtents=collision_half, collisionFramePosition=collision_pos, physicsClientId=client
    )
    return pb.createMultiBody(0, collision, visual, [0.0, 0.0, 0.0], physicsClientId=client)


def _side_quads(x0: float, x1: float, y0: float, y1: float, z0: float, z1: float) -> list[Quad]:
    """The four outward-facing sides of an axis-aligned box."""
    return [
        [[x0, y0, z0], [x1, y0, z0], [x1, y0, z1], [x0, y0, z1]],  # -y
        [[x1, y0, z0], [x1, y1, z0], [x1, y1, z1], [x1, y0, z1]],  # +x
        [[x1, y1, z0], [x0, y1, z0], [x0, y1, z1], [x1, y1, z1]],  # +y
        [[x0, y1, z0], [x0, y0, z0], [x0, y0, z1], [x0, y1, z1]],  # -x
    ]


def _top_quad(x0: float, x1: float, y0: float, y1: float, z: float) -> Quad:
    return [[x0, y0, z], [x1, y0, z], [x1, y1, z], [x0, y1, z]]


def build_stage(client: int) -> Stage:
    """Create the floor and the table, centred on the world origin, in ``client``."""
    hx, hy, top_z = TABLE_SIZE_M[0] / 2, TABLE_SIZE_M[1] / 2, TABLE_HEIGHT_M
    # TinyRenderer shades a pixel only if it passes the depth test when drawn, and draws bodies in
    # creation order: creating the near table top before what lies behind it saves shading.
    top = _quad_body(
        client,
        [_top_quad(-hx, hx, -hy, hy, top_z)],
        _TOP_RGBA,
        [hx, hy, _APRON_DEPTH / 2],
        [0.0, 0.0, top_z - _APRON_DEPTH / 2],
    )
    leg_z = top_z - _APRON_DEPTH
    frame_quads = _side_quads(-hx, hx, -hy, hy, leg_z, top_z)
    for sx in (-1, 1):
        for sy in (-1, 1):
            cx, cy = sx * (hx - 2 * _LEG_WIDTH), sy * (hy - 2 * _LEG_WIDTH)
            w = _LEG_WIDTH / 2
            frame_quads += _side_quads(cx - w, cx + w, cy - w, cy + w, 0.0, leg_z)
    frame = _quad_body(
        client,
        frame_quads,
        _FRAME_RGBA,
        [hx - 2 * _LEG_WIDTH, hy - 2 * _LEG_WIDTH, leg_z / 2],
        [0.0, 0.0, leg_z / 2],
    )
    f = _FLOOR_HALF_SIZE
    floor = _quad_body(client, [_top_quad(-f, f, -f, f, 0.0)], _FLOOR_RGBA, [f, f, 0.05], [0.0, 0.0, -0.05])
    table = TableTop(z=top_z, x_min=-hx, x_max=hx, y_min=-hy, y_max=hy)
    return Stage(table_top=top, background=(floor, frame), table=table)
