"""Triangle meshes built in code for PyBullet ``GEOM_MESH`` visual shapes.

PyBullet tessellates its own cylinders and spheres as a convex hull sampled from a few dozen
directions and grown by a 1 mm margin: lumpy, and larger than their nominal size. Building the
meshes here gives smooth shading and drawn shapes that fit their nominal 3D boxes exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

_CYLINDER_SEGMENTS = 40
_SPHERE_SLICES = 32
_SPHERE_STACKS = 16


@dataclass(frozen=True, eq=False)
class Mesh:
    """Vertices (V, 3), flat triangle indices (3T,), per-vertex normals (V, 3) and uvs (V, 2)."""

    vertices: np.ndarray
    indices: np.ndarray
    normals: np.ndarray
    uvs: np.ndarray

    def shape_kwargs(self) -> dict[str, list]:
        """Keyword arguments for ``pybullet.createVisualShape(GEOM_MESH, ...)``."""
        return {
            "vertices": self.vertices.tolist(),
            "indices": self.indices.astype(int).tolist(),
            "normals": self.normals.tolist(),
            "uvs": self.uvs.tolist(),
        }


def quads_mesh(quads: Sequence[Sequence[Sequence[float]]]) -> Mesh:
    """Flat-shaded quads, each given by 4 corners counter-clockwise seen from its front."""
    corners = np.asarray(quads, dtype=np.float64).reshape(-1, 4, 3)
    normal = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    normal /= np.linalg.norm(normal, axis=1, keepdims=True)
    base = 4 * np.arange(len(corners))[:, None]
    indices = (base + np.array([0, 1, 2, 0, 2, 3])).ravel()
    uvs = np.tile([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]], (len(corners), 1))
    return Mesh(corners.reshape(-1, 3), indices, np.repeat(normal, 4, axis=0), uvs)


def cylinder_mesh(radius: float, length: float) -> Mesh:
    """A closed cylinder along z, centred on the origin, with smooth sides and flat caps.

    The side's vertices lie on the circle, so the drawn shape stays inside its nominal box.
    """
    n = _CYLINDER_SEGMENTS
    angle = 2.0 * np.pi * np.arange(n) / n
    ring = np.stack([np.cos(angle), np.sin(angle), np.zeros(n)], axis=1)
    h = length / 2.0
    bottom, top = ring * radius - [0, 0, h], ring * radius + [0, 0, h]
    up, down = np.tile([0.0, 0.0, 1.0], (n, 1)), np.tile([0.0, 0.0, -1.0], (n, 1))
    # Side (2n vertices, radial normals), then top and bottom caps with their own flat normals.
    vertices = np.concatenate([bottom, top, top, bottom, [[0, 0, h], [0, 0, -h]]])
    normals = np.concatenate([ring, ring, up, down, [[0, 0, 1.0], [0, 0, -1.0]]])
    i, j = np.arange(n), (np.arange(n) + 1) % n
    side = np.stack([i, j, n + j, i, n + j, n + i], axis=1)
    top_c, bottom_c = 4 * n, 4 * n + 1
    top_cap = np.stack([np.full(n, top_c), 2 * n + i, 2 * n + j], axis=1)
    bottom_cap = np.stack([np.full(n, bottom_c), 3 * n + j, 3 * n + i], axis=1)
    indices = np.concatenate([side.ravel(), top_cap.ravel(), bottom_cap.ravel()])
    uvs = np.zeros((len(vertices), 2))
    return Mesh(vertices, indices, normals, uvs)


def sphere_mesh(radius: float) -> Mesh:
    """A UV sphere centred on the origin with smooth normals; vertices lie on the sphere."""
    slices, stacks = _SPHERE_SLICES, _SPHERE_STACKS
    theta = np.pi * np.arange(stacks + 1) / stacks  # polar angle from +z
    phi = 2.0 * np.pi * np.arange(slices + 1) / slices
    t, p = np.meshgrid(theta, phi, indexing="ij")
    unit = np.stack([np.sin(t) * np.cos(p), np.sin(t) * np.sin(p), np.cos(t)], axis=-1).reshape(-1, 3)
    row = slices + 1
    a = (np.arange(stacks)[:, None] * row + np.arange(slices)[None, :]).ravel()
    quads = np.stack([a, a + row, a + row + 1, a, a + row + 1, a + 1], axis=1)
    uvs = np.stack([p / (2 * np.pi), t / np.pi], axis=-1).reshape(-1, 2)
    return Mesh(unit * radius, quads.ravel(), unit, uvs)
