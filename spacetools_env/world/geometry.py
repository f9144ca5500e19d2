"""Small, vectorised geometry helpers for oriented boxes and their footprints on the table.

Box corners (:func:`box_corners`, re-exported) and footprint hulls come from
:mod:`tool_backends.geometry`, so the world's ground-truth boxes and the bounding-box tool share
one corner order.
"""

from __future__ import annotations

import math

import numpy as np

from tool_backends.geometry import box_corners


def yaw_quaternion(yaw: float) -> np.ndarray:
    """xyzw quaternion of a rotation by ``yaw`` radians about the world z axis."""
    return np.array([0.0, 0.0, math.sin(yaw / 2.0), math.cos(yaw / 2.0)])


def yaw_matrix(yaw: float) -> np.ndarray:
    """3x3 rotation by ``yaw`` radians about the world z axis."""
    c, s = math.cos(yaw), math.sin(yaw)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def quaternion_matrix(quaternion: np.ndarray) -> np.ndarray:
    """3x3 rotation matrix of an xyzw quaternion."""
    x, y, z, w = np.asarray(quaternion, dtype=np.float64) / np.linalg.norm(quaternion)
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )


def polygon_distance(points: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """Euclidean distance from (M, 2) points to a counter-clockwise convex polygon (K, 2).

    Points inside the polygon are at distance 0.
    """
    p = np.asarray(points, dtype=np.float64)
    a = np.asarray(polygon, dtype=np.float64)
    b = np.roll(a, -1, axis=0)
    edge = b - a  # (K, 2)
    rel = p[:, None, :] - a[None, :, :]  # (M, K, 2)
    cross = edge[None, :, 0] * rel[..., 1] - edge[None, :, 1] * rel[..., 0]
    inside = np.all(cross >= 0.0, axis=1)
    t = np.clip(np.einsum("mkd,kd->mk", rel, edge) / np.einsum("kd,kd->k", edge, edge), 0.0, 1.0)
    closest = a[None] + t[..., None] * edge[None]
    dist = np.sqrt(((p[:, None, :] - closest) ** 2).sum(-1)).min(axis=1)
    return np.where(inside, 0.0, dist)


def _overlap(a: np.ndarray, b: np.ndarray) -> bool:
    """Separating-axis test for two convex polygons; True when their interiors intersect."""
    for poly in (a, b):
        edges = np.roll(poly, -1, axis=0) - poly
        normals = np.stack([-edges[:, 1], edges[:, 0]], axis=1)
        pa, pb = a @ normals.T, b @ normals.T
        if np.any((pa.max(0) <= pb.min(0)) | (pb.max(0) <= pa.min(0))):
            return False
    return True


def polygons_apart(a: np.ndarray, b: np.ndarray, spacing: float) -> bool:
    """Whether two convex CCW polygons are disjoint and at least ``spacing`` apart."""
    if _overlap(a, b):
        return False
    # For disjoint convex polygons the closest pair is a vertex of one against an edge of the other.
    gap = min(polygon_distance(a, b).min(), polygon_distance(b, a).min())
    return bool(gap >= spacing)


def quaternion_multiply(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamilton product ``a * b`` of xyzw quaternions (apply ``b`` first, then ``a``)."""
    ax, ay, az, aw = a
    bx, by, bz, bw = b
    return np.array(
        [
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
            aw * bw - ax * bx - ay * by - az * bz,
        ]
    )


__all__ = [
    "box_corners",
    "polygon_distance",
    "polygons_apart",
    "quaternion_matrix",
    "quaternion_multiply",
    "yaw_matrix",
    "yaw_quaternion",
]
