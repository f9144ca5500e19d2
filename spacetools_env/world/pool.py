"""Pooled PyBullet bodies, so generating a scene moves bodies instead of creating them.

Loading a URDF or creating a body costs more than rendering a frame, so every body is created
once per client and reused: each mesh model is loaded when the pool starts; primitives are
created on first use and cached by (category, size in whole centimetres). Bodies a scene does not
use are parked far below the floor, beyond the far clipping plane, where they cannot change the
image. Which body serves an object never changes what is rendered: bodies of one key are
identical, and colours are set on every use.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

import numpy as np
import pybullet_data

from spacetools_env.world.bullet import pb
from spacetools_env.world.catalogue import MESH_MODELS, PRIMITIVE_MODELS
from spacetools_env.world.geometry import quaternion_matrix
from spacetools_env.world.meshes import cylinder_mesh, sphere_mesh

ModelKey = tuple[str, tuple[int, ...]]
"""(category, size in cm); mesh models use an empty size."""

_PARK_Z = -100.0


@dataclass(frozen=True, eq=False)
class ModelGeometry:
    """Where a model's oriented 3D box sits relative to its PyBullet body.

    Attributes:
        extents: (3,) full box size along the upright model's axes (metres).
        center: (3,) box centre in the body's base frame rotated by ``upright``, so the body's
            base position is ``box_centre - R_yaw @ center``.
        upright: (4,) xyzw body orientation that stands the model upright at zero yaw.
    """

    extents: np.ndarray
    center: np.ndarray
    upright: np.ndarray


@dataclass(frozen=True, eq=False)
class BodyRequest:
    """One body a scene needs: which model, what colour, and the base pose to put it at."""

    key: ModelKey
    rgba: tuple[float, float, float, float] | None
    position: np.ndarray
    orientation: np.ndarray


@cache
def _obj_vertices(path: str) -> np.ndarray:
    """Vertices of a Wavefront OBJ file, as PyBullet's renderer draws them."""
    with open(path, encoding="utf-8", errors="replace") as handle:
        rows = [line.split()[1:4] for line in handle if line.startswith("v ")]
    return np.asarray(rows, dtype=np.float64)


def _mesh_geometry(client: int, body: int, upright: np.ndarray) -> ModelGeometry:
    """Exact box of a loaded mesh body from its visual mesh vertices.

    PyBullet poses a body by its centre-of-mass frame, while visual shapes are placed relative to
    the URDF link frame; the link frame is the inertial frame moved by the inverse inertial offset.
    """
    points = []
    inertial_pos, inertial_orn = pb.getDynamicsInfo(body, -1, physicsClientId=client)[3:5]
    inv_pos, inv_orn = pb.invertTransform(inertial_pos, inertial_orn)
    for shape in pb.getVisualShapeData(body, physicsClientId=client):
        scale, mesh_file, vis_pos, vis_orn = shape[3], shape[4].decode(), shape[5], shape[6]
        pos, orn = pb.multiplyTransforms(inv_pos, inv_orn, vis_pos, vis_orn)
        verts = _obj_vertices(mesh_file) * np.asarray(scale)
        points.append(verts @ quaternion_matrix(orn).T + np.asarray(pos))
    upright_pts = np.concatenate(points) @ quaternion_matrix(upright).T
    lo, hi = upright_pts.min(0), upright_pts.max(0)
    return ModelGeometry(extents=hi - lo, center=(hi + lo) / 2, upright=upright)


class BodyPool:
    """Bodies of one PyBullet client, created once and moved between scenes."""

    def __init__(self, client: int) -> None:
        self._client = client
        self._bodies: dict[ModelKey, list[int]] = {}
        self._colors: dict[int, tuple[float, ...]] = {}
        self._active: set[int] = set()
        self._mesh_geometry: dict[str, ModelGeometry] = {}
        root = pybullet_data.getDataPath()
        # Loaded in a fixed order so body ids, hence draw order, are the same in every process.
        for category, model in MESH_MODELS.items():
            upright = np.asarray(pb.getQuaternionFromEuler(model.upright_euler))
            body = pb.loadURDF(
                os.path.join(root, model.urdf),
                basePosition=[0.0, 0.0, _PARK_Z],
                globalScaling=model.scaling,
                useFixedBase=True,
                physicsClientId=client,
            )
            self._park(body)
            self._bodies[(category, ())] = [body]
            self._mesh_geometry[category] = _mesh_geometry(client, body, upright)

    @property
    def body_count(self) -> int:
        """Number of bodies the pool holds."""
        return sum(len(b) for b in self._bodies.values())

    def geometry(self, key: ModelKey) -> ModelGeometry:
        """Box geometry of a model: a mesh (``(category, ())``) or a sized primitive."""
        category, size_cm = key
        if category in self._mesh_geometry:
            return self._mesh_geometry[category]
        extents = PRIMITIVE_MODELS[category].extents_m(size_cm)
        return ModelGeometry(extents=extents, center=np.zeros(3), upright=np.array([0.0, 0.0, 0.0, 1.0]))

    def arrange(self, requests: Sequence[BodyRequest]) -> list[int]:
        """Pose one body per request and park every other body that was in view.

        Args:
            requests: The bodies the next image shows.

        Returns:
            The body id serving each request, in order.
        """
        used: dict[ModelKey, int] = {}
        uids: list[int] = []
        for req in requests:
            bodies = self._bodies.setdefault(req.key, [])
            index = used.get(req.key, 0)
            used[req.key] = index + 1
            if index == len(bodies):
                bodies.append(self._create_primitive(req.key))
            uid = bodies[index]
            if req.rgba is not None and self._colors.get(uid) != req.rgba:
                pb.changeVisualShape(uid, -1, rgbaColor=req.rgba, physicsClientId=self._client)
                self._colors[uid] = req.rgba
            pb.resetBasePositionAndOrientation(
                uid, req.position.tolist(), req.orientation.tolist(), physicsClientId=self._client
            )
            uids.append(uid)
        for uid in sorted(self._active.difference(uids)):
            self._park(uid)
        self._active = set(uids)
        return uids

    def _park_position(self, uid: int) -> list[float]:
        # Spread parked bodies apart so they never touch if someone steps the simulation.
        return [100.0 + 0.5 * uid, 0.0, _PARK_Z]

    def _park(self, uid: int) -> None:
        pb.resetBasePositionAndOrientation(
            uid, self._park_position(uid), [0.0, 0.0, 0.0, 1.0], physicsClientId=self._client
        )

    def _create_primitive(self, key: ModelKey) -> int:
        category, _ = key
        half = self.geometry(key).extents / 2
        c = self._client
        if category in ("cube", "box"):
            visual = pb.createVisualShape(pb.GEOM_BOX, halfExtents=half.tolist(), physicsClientId=c)
            collision = pb.createCollisionShape(pb.GEOM_BOX, halfExtents=half.tolist(), physicsClientId=c)
        elif category == "cylinder":
            radius, length = float(half[0]), float(2 * half[2])
            mesh = cylinder_mesh(radius, length)
            visual = pb.createVisualShape(pb.GEOM_MESH, physicsClientId=c, **mesh.shape_kwargs())
            collision = pb.createCollisionShape(
                pb.GEOM_CYLINDER, radius=radius, height=length, physicsClientId=c
            )
        else:
            mesh = sphere_mesh(float(half[0]))
            visual = pb.createVisualShape(pb.GEOM_MESH, physicsClientId=c, **mesh.shape_kwargs())
            collision = pb.createCollisionShape(pb.GEOM_SPHERE, radius=float(half[0]), physicsClientId=c)
        uid = pb.createMultiBody(0, collision, visual, [0.0, 0.0, _PARK_Z], physicsClientId=c)
        self._park(uid)
        return uid
