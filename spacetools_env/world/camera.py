"""A pinhole camera and the conversions between world, camera, pixel and normalized coordinates.

Frames and conventions, used everywhere in the world package:

* world: metres, z up, the table top is horizontal.
* OpenCV camera frame: x right, y down, z forward (metres); depth is the z coordinate.
* pixels: continuous coordinates (u, v) with the origin at the top-left corner of the image, so
  the centre of pixel (column i, row j) is (i + 0.5, j + 0.5).
* normalized image coordinates: (x, y) = (u / width, v / height) in [0, 1], origin top-left.

The principal point is exactly the image centre (width / 2, height / 2) and fx = fy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np

# OpenGL cameras look down -z with y up; OpenCV cameras look down +z with y down.
_GL_TO_CV = np.diag([1.0, -1.0, -1.0])


def _frozen(array: np.ndarray) -> np.ndarray:
    array.setflags(write=False)
    return array


@dataclass(frozen=True, eq=False)
class Camera:
    """A pinhole camera with OpenGL matrices (for the renderer) and OpenCV-style geometry.

    Compare cameras by their fields, not with ``==`` (arrays make equality ambiguous).

    Attributes:
        width: Image width in pixels.
        height: Image height in pixels.
        fov_deg: Vertical field of view in degrees.
        near: Near clipping plane distance (metres).
        far: Far clipping plane distance (metres).
        view_matrix: 4x4 world -> OpenGL camera transform (x right, y up, z backward).
        projection_matrix: 4x4 OpenGL projection of the ideal pinhole (principal point at the
            image centre).
        position: (3,) camera centre in the world frame.
    """

    width: int
    height: int
    fov_deg: float
    near: float
    far: float
    view_matrix: np.ndarray
    projection_matrix: np.ndarray
    position: np.ndarray

    @classmethod
    def look_at(
        cls,
        eye: np.ndarray,
        target: np.ndarray,
        *,
        width: int,
        height: int,
        fov_deg: float,
        near: float,
        far: float,
        up: tuple[float, float, float] = (0.0, 0.0, 1.0),
    ) -> Camera:
        """A camera at ``eye`` looking at ``target`` with ``up`` pointing up in the image.

        Args:
            eye: (3,) camera centre, world frame.
            target: (3,) point on the optical axis, world frame.
            width: Image width in pixels.
            height: Image height in pixels.
            fov_deg: Vertical field of view in degrees.
            near: Near clipping plane (metres).
            far: Far clipping plane (metres).
            up: World direction that appears up; must not be parallel to the viewing direction.

        Returns:
            The camera.
        """
        eye = np.asarray(eye, dtype=np.float64)
        forward = np.asarray(target, dtype=np.float64) - eye
        forward /= np.linalg.norm(forward)
        right = np.cross(forward, np.asarray(up, dtype=np.float64))
        right /= np.linalg.norm(right)
        true_up = np.cross(right, forward)
        view = np.eye(4)
        view[:3, :3] = np.stack([right, true_up, -forward])
        view[:3, 3] = -view[:3, :3] @ eye
        f = 1.0 / math.tan(math.radians(fov_deg) / 2.0)
        proj = np.zeros((4, 4))
        proj[0, 0] = f * height / width
        proj[1, 1] = f
        proj[2, 2] = (far + near) / (near - far)
        proj[2, 3] = 2.0 * far * near / (near - far)
        proj[3, 2] = -1.0
        return cls(width, height, float(fov_deg), float(near), float(far), view, proj, eye.copy())

    def __post_init__(self) -> None:
        for name in ("view_matrix", "projection_matrix", "position"):
            object.__setattr__(self, name, _frozen(np.array(getattr(self, name), dtype=np.float64)))

    # ---------------------------------------------------------------- intrinsics

    @property
    def focal_length_px(self) -> float:
        """Focal length in pixels, fx = fy = (height / 2) / tan(fov / 2)."""
        return (self.height / 2.0) / math.tan(math.radians(self.fov_deg) / 2.0)

    @property
    def principal_point(self) -> tuple[float, float]:
        """(cx, cy) in pixels: exactly the image centre."""
        return self.width / 2.0, self.height / 2.0

    @property
    def intrinsics(self) -> np.ndarray:
        """3x3 OpenCV intrinsic matrix K."""
        f = self.focal_length_px
        cx, cy = self.principal_point
        return np.array([[f, 0.0, cx], [0.0, f, cy], [0.0, 0.0, 1.0]])

    @cached_property
    def _rotation_cv(self) -> np.ndarray:
        return _frozen(_GL_TO_CV @ self.view_matrix[:3, :3])

    @property
    def rotation(self) -> np.ndarray:
        """3x3 world -> OpenCV camera rotation; its rows are the camera axes in the world frame."""
        return self._rotation_cv

    # ---------------------------------------------------------------- transforms

    def world_to_camera(self, points: np.ndarray) -> np.ndarray:
        """Transform (N, 3) world points into the OpenCV camera frame (metres)."""
        return (np.asarray(points, dtype=np.float64) - self.position) @ self._rotation_cv.T

    def camera_to_world(self, points: np.ndarray) -> np.ndarray:
        """Transform (N, 3) OpenCV camera-frame points into the world frame."""
        return np.asarray(points, dtype=np.float64) @ self._rotation_cv + self.position

    def project_pixels(self, points_world: np.ndarray) -> np.ndarray:
        """Project (N, 3) world points to continuous pixel coordinates (N, 2).

        Points at or behind the camera plane (z <= 0) give NaN.
        """
        cam = self.world_to_camera(points_world)
        z = cam[:, 2:3]
        with np.errstate(divide="ignore", invalid="ignore"):
            uv = cam[:, :2] / np.where(z > 0, z, np.nan) * self.focal_length_px
        return uv + np.asarray(self.principal_point)

    def project(self, points_world: np.ndarray) -> np.ndarray:
        """Project (N, 3) world points to normalized image coordinates (N, 2), origin top-left.

        ``x = u / width`` and ``y = v / height`` where pixel centres sit at ``u = i + 0.5``;
        points inside the image land in [0, 1]. Points behind the camera give NaN.
        """
        return self.project_pixels(points_world) / np.array([self.width, self.height], dtype=np.float64)

    def rays(self, points_xy: np.ndarray) -> np.ndarray:
        """World-frame ray directions through (N, 2) normalized image points.

        Each ray is scaled so its OpenCV camera z component is 1: the world point at depth ``d``
        along the ray is ``position + d * ray``.
        """
        xy = np.asarray(points_xy, dtype=np.float64)
        uv = xy * np.array([self.width, self.height], dtype=np.float64)
        cam = np.empty((len(xy), 3))
        cam[:, :2] = (uv - np.asarray(self.principal_point)) / self.focal_length_px
        cam[:, 2] = 1.0
        return cam @ self._rotation_cv

    @cached_property
    def _pixel_rays(self) -> np.ndarray:
        f = self.focal_length_px
        cx, cy = self.principal_point
        x = (np.arange(self.width) + 0.5 - cx) / f
        y = (np.arange(self.height) + 0.5 - cy) / f
        r = self._rotation_cv  # rows: camera axes in world coordinates
        rays = x[None, :, None] * r[0] + y[:, None, None] * r[1] + r[2]
        return _frozen(rays)

    def pixel_rays(self) -> np.ndarray:
        """HxWx3 world-frame rays through every pixel centre, with unit camera-z component."""
        return self._pixel_rays

    def backproject(self, depth: np.ndarray) -> np.ndarray:
        """Lift an HxW depth map (metres along the optical axis) to HxWx3 world points.

        Pixels with non-finite depth (nothing hit) give NaN points.
        """
        depth = np.asarray(depth, dtype=np.float64)
        if depth.shape != (self.height, self.width):
            raise ValueError(
                f"depth has shape {depth.shape}; this camera needs ({self.height}, {self.width})"
            )
        d = np.where(np.isfinite(depth), depth, np.nan)[..., None]
        return self.position + d * self._pixel_rays

    def depth_from_buffer(self, buffer: np.ndarray) -> np.ndarray:
        """Metric depth (float32, metres along the optical axis) from an OpenGL depth buffer in [0, 1]."""
        d = np.asarray(buffer, dtype=np.float64)
        z = self.far * self.near / (self.far - (self.far - self.near) * d)
        return z.astype(np.float32)

    def __getstate__(self) -> dict[str, object]:
        # Cached rays are large and cheap to rebuild; keep pickles small.
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_")}

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update(state)
        for value in state.values():
            if isinstance(value, np.ndarray):
                value.setflags(write=False)
