"""The procedural tabletop world: sample a layout, pose pooled bodies, render, read off the truth.

Typical use::

    from spacetools_env.world import DIFFICULTIES, get_world
    scene = get_world().generate(np.random.default_rng(0), DIFFICULTIES["hard"])

Determinism: a scene depends only on the generator's state and the config. Body pooling never
leaks into the output: bodies of one model are identical, colours and poses are set for every
scene, unused bodies are parked out of view, and labels come from the scene, not body ids.
"""

from __future__ import annotations

import os
import weakref
from typing import Any

import numpy as np

from spacetools_env.world.bullet import pb
from spacetools_env.world.camera import Camera
from spacetools_env.world.catalogue import PALETTE
from spacetools_env.world.config import DIFFICULTIES, SceneConfig
from spacetools_env.world.geometry import quaternion_multiply, yaw_matrix, yaw_quaternion
from spacetools_env.world.layout import Placement, sample_camera, sample_layout
from spacetools_env.world.pool import BodyPool, BodyRequest
from spacetools_env.world.scene import (
    FLOOR_LABEL,
    OBJECT_LABEL_OFFSET,
    TABLE_LABEL,
    ObjectInstance,
    Scene,
    TableTop,
)
from spacetools_env.world.stage import build_stage

__all__ = ["DIFFICULTIES", "SceneConfig", "World", "get_world"]

_MAX_SCENE_ATTEMPTS = 50


def _disconnect(client: int, pid: int) -> None:
    # A forked child holds a copy of the parent's client; only its creator may close it.
    if os.getpid() == pid and pb.isConnected(physicsClientId=client):
        pb.disconnect(physicsClientId=client)


def _light_direction(camera: Camera) -> list[float]:
    """Light from above, behind and a little right of the camera, so visible faces are lit and
    neighbouring faces of a box get different shades whatever the viewing direction."""
    right, forward = camera.rotation[0], camera.rotation[2]
    light = -forward + 0.4 * right + np.array([0.0, 0.0, 1.0])
    return (light / np.linalg.norm(light)).tolist()


class World:
    """A PyBullet DIRECT client holding the table, the floor and pooled object bodies.

    A World is tied to the process that created it and cannot be pickled; objects that hold one
    should drop it in ``__getstate__`` and call :func:`get_world` after unpickling.

    Attributes:
        layout_retries: Layout samples rejected before rendering (no room for enough objects).
        resamples: Rendered scenes discarded because an object showed fewer than
            ``min_visible_px`` pixels; placement keeps this rare.
        scenes_rendered: Renders so far (benchmarks count renders per generated item).
        last_camera: Camera of the scene last returned; its bodies stay posed until the next
            ``generate``, so benchmarks can re-render exactly that scene.
    """

    def __init__(self) -> None:
        self._pid = os.getpid()
        self._client = pb.connect(pb.DIRECT)
        self._finalizer = weakref.finalize(self, _disconnect, self._client, self._pid)
        self._stage = build_stage(self._client)
        self._pool = BodyPool(self._client)
        self.layout_retries = 0
        self.resamples = 0
        self.scenes_rendered = 0
        self.last_camera: Camera | None = None

    @property
    def client_id(self) -> int:
        """The PyBullet physics client id."""
        return self._client

    @property
    def pid(self) -> int:
        """Id of the process that created this world."""
        return self._pid

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return not self._finalizer.alive

    @property
    def table(self) -> TableTop:
        """The table top every scene shares."""
        return self._stage.table

    @property
    def body_count(self) -> int:
        """Bodies the object pool holds (it grows with the primitive sizes seen)."""
        return self._pool.body_count

    def generate(self, rng: np.random.Generator, config: SceneConfig | None = None) -> Scene:
        """Sample and render one scene.

        Args:
            rng: Source of all randomness; the same state gives a bit-identical scene.
            config: Scene configuration; None means ``SceneConfig()`` (the "medium" preset).

        Returns:
            The rendered scene with its ground truth.

        Raises:
            RuntimeError: If no valid scene is found in 50 attempts (a config that cannot fit its
                objects, e.g. many large objects with a wide spacing).
        """
        if self.closed:
            raise RuntimeError("This World is closed; use get_world() for a live one")
        config = SceneConfig() if config is None else config
        for _ in range(_MAX_SCENE_ATTEMPTS):
            camera = sample_camera(rng, config, self.table)
            placements = sample_layout(rng, config, camera, self.table, self._pool.geometry)
            if placements is None:
                self.layout_retries += 1
                continue
            scene = self._render_scene(camera, placements)
            self.scenes_rendered += 1
            if min(o.pixel_count for o in scene.objects) >= config.min_visible_px:
                self.last_camera = camera
                return scene
            self.resamples += 1
        raise RuntimeError(
            f"Could not generate a scene for {config} in {_MAX_SCENE_ATTEMPTS} attempts; "
            "lower num_objects, min_spacing_m or min_visible_px, or move the camera closer"
        )

    def camera_image_kwargs(self, camera: Camera) -> dict[str, Any]:
        """Keyword arguments of the ``pybullet.getCameraImage`` call that renders ``camera``.

        TinyRenderer samples pixel (i, j) at the continuous point (i, j + 1) of the ideal camera
        (pixel corners, not centres); shifting the frustum by half a pixel makes it sample pixel
        centres, so the image matches :class:`Camera`'s principal point at the image centre.
        """
        projection = camera.projection_matrix.copy()
        projection[0, 2] += 1.0 / camera.width
        projection[1, 2] += 1.0 / camera.height
        return {
            "width": camera.width,
            "height": camera.height,
            # PyBullet takes column-major 4x4 matrices.
            "viewMatrix": camera.view_matrix.T.ravel().tolist(),
            "projectionMatrix": projection.T.ravel().tolist(),
            "lightDirection": _light_direction(camera),
            # More diffuse than PyBullet's default (0.6 ambient, 0.35 diffuse) so faces of a
            # box are told apart.
            "lightAmbientCoeff": 0.4,
            "lightDiffuseCoeff": 0.6,
            "lightSpecularCoeff": 0.05,
            "shadow": 0,
            "renderer": pb.ER_TINY_RENDERER,
            "physicsClientId": self._client,
        }

    def _render_scene(self, camera: Camera, placements: list[Placement]) -> Scene:
        uids = self._pool.arrange([_body_request(p) for p in placements])
        _, _, rgba, depth_buffer, seg = pb.getCameraImage(**self.camera_image_kwargs(camera))
        rgba = np.asarray(rgba, dtype=np.uint8).reshape(camera.height, camera.width, 4)
        seg = np.asarray(seg, dtype=np.int32).reshape(camera.height, camera.width)
        depth = camera.depth_from_buffer(np.asarray(depth_buffer).reshape(seg.shape))
        depth[seg < 0] = np.inf
        # Body ids depend on pool history; map them to labels that depend on the scene only.
        lut = np.full(max(int(seg.max()), self._stage.table_top, *uids) + 2, FLOOR_LABEL, dtype=np.int32)
        lut[self._stage.table_top + 1] = TABLE_LABEL
        labels = np.arange(OBJECT_LABEL_OFFSET, OBJECT_LABEL_OFFSET + len(uids), dtype=np.int32)
        lut[np.asarray(uids) + 1] = labels
        segmentation = lut[seg + 1]
        counts = np.bincount(segmentation.ravel(), minlength=OBJECT_LABEL_OFFSET + len(uids))
        objects = tuple(
            _instance(p, int(label), segmentation == label, int(counts[label]))
            for p, label in zip(placements, labels, strict=True)
        )
        return Scene(
            rgb=np.ascontiguousarray(rgba[..., :3]),
            depth=depth,
            segmentation=segmentation,
            camera=camera,
            objects=objects,
            table=self.table,
        )

    def close(self) -> None:
        """Disconnect the PyBullet client; the world cannot generate afterwards."""
        self._finalizer()

    def __enter__(self) -> World:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __getstate__(self) -> dict[str, Any]:
        raise TypeError(
            "World holds a live PyBullet client and cannot be pickled; drop it in your "
            "__getstate__ and call spacetools_env.world.get_world() after unpickling"
        )


def _body_request(placement: Placement) -> BodyRequest:
    geometry = placement.geometry
    # The box centre is the body's base frame moved by the model's (rotated) box offset.
    base = placement.center - yaw_matrix(placement.yaw) @ geometry.center
    orientation = quaternion_multiply(yaw_quaternion(placement.yaw), geometry.upright)
    color = placement.entry.color
    return BodyRequest(placement.key, None if color is None else PALETTE[color], base, orientation)


def _instance(placement: Placement, label: int, mask: np.ndarray, pixel_count: int) -> ObjectInstance:
    entry = placement.entry
    return ObjectInstance(
        label=label,
        name=entry.name,
        category=entry.category,
        color=entry.color,
        position=placement.center.copy(),
        orientation=yaw_quaternion(placement.yaw),
        extents=placement.geometry.extents.copy(),
        corners_world=placement.corners.copy(),
        mask=mask,
        pixel_count=pixel_count,
        is_cuboid=entry.is_cuboid,
    )


_WORLD: World | None = None


def get_world() -> World:
    """The process's shared :class:`World`, created on first use and again after a fork."""
    global _WORLD
    if _WORLD is None or _WORLD.pid != os.getpid() or _WORLD.closed:
        _WORLD = World()
    return _WORLD
