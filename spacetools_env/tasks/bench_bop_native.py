"""BOPScenesPose: BOP-ASK-style object pose asked on BOP dataset scenes in their native format.

Every visible object instance of a BOP dataset folder (YCB-V by default; loader and item rules:
:mod:`spacetools_env.loaders.bop`) becomes a question in the SpaceTools pose template (notes
section 8): "What are the eight normalized (x, y) image coordinates between 0 and 1 of the cuboid
corners for the <object>? ... bottom face first then top face, all counter-clockwise ... a list of
8 tuples like [(x1, y1), (x2, y2), ...]." The object is named as the loader decides (a ``names``
mapping, ``models_info.json``, a built-in YCB-V list, else ``object <id>``; repeated objects
qualified left to right).

The ground truth is the object's ``models_info`` box (a model-frame axis-aligned box) projected
through the annotated pose and ``cam_K``, normalized by the image size, 6 decimals. Corner order
(BOP-ASK's is **UNVERIFIED**, notes section 9; the score does not depend on it): "up" is the box
axis closest to the camera's up direction (image up), the same rule the 3D bounding-box tool
orders its corners by (:data:`tool_backends.geometry.CAMERA_UP`); the bottom face goes first,
counter-clockwise as seen in the image from its corner lowest in the image, then the top corner
above each bottom corner (:func:`spacetools_env.tasks.box_pose.order_box_corners`). BOP ships no
table plane and its world frames differ per dataset, so camera up stands in for world up.

Scoring is BOPPose's (:mod:`~spacetools_env.tasks.bench_bop_pose`): the IoU of the convex hulls
of the predicted and true corners, 0 unless both have exactly 8 points. The shaped term is the
same IoU; the oracle answers the ground truth. Oracle tools answer from the folder's depth,
``cam_K`` focal length and ``mask_visib`` masks (pointing, segmentation, depth, 3D box).

``meta``: ``question_type`` (``pose``), ``data_source`` (``BOP/<dataset>/<split>``), ``key``
(``bop-<dataset>``), ``source_index`` (``<scene>/<image>/<instance>``), ``dataset``, ``split``,
``scene_id``, ``im_id``, ``gt_id``, ``obj_id``, ``target``, ``visib_fract``.

Another dataset or names: ``gym.make("SpaceTools-BOPScenes-Pose-v0", source_options={"dataset":
"lmo", "names": {"1": "ape"}}, data_dir=...)`` (``split=`` picks a split folder, e.g.
``"test_primesense"`` for T-LESS). ``spacetools data download bop-lmo --data-dir DIR`` fetches
and extracts a dataset (``bop-ycbv``, ``bop-lmo``, ``bop-tless``, ``bop-hope``, ``bop-handal`` are
listed; any ``bop-<dataset>`` is tried).

Registered ids: ``SpaceTools-BOPScenes-Pose-v0`` (splits: the dataset's split folders; default
``test``).

Version history:
    v0: initial release.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping

import numpy as np

from spacetools_env.loaders.bop import bop_scenes_source
from spacetools_env.loaders.bop_format import BOPInstance
from spacetools_env.loaders.bop_release import DEFAULT_DATASET
from spacetools_env.task import TaskFamily
from spacetools_env.tasks.bench_bop_pose import BOPPoseItem, counterexample, oracle, score
from spacetools_env.tasks.bench_common import format_pairs
from spacetools_env.tasks.box_pose import DECIMALS, QUESTION, order_box_corners
from tool_backends.geometry import CAMERA_UP


def ordered_corners(corners_2d: np.ndarray, corners_3d: np.ndarray) -> np.ndarray:
    """The 8 normalized corners, bottom face then top face, each counter-clockwise in the image.

    Args:
        corners_2d: (8, 2) normalized corners in :func:`tool_backends.geometry.box_corners` order.
        corners_3d: (8, 3) the same corners in the camera frame.

    Returns:
        (8, 2) corners, "bottom" taken along the box axis closest to the camera's up direction.
    """
    corners_3d = np.asarray(corners_3d, dtype=np.float64)
    # box_corners order: corner 1 differs from 0 along a0, corner 3 along a1, corner 4 along a2.
    axes = np.stack([corners_3d[k] - corners_3d[0] for k in (1, 3, 4)])
    axes /= np.linalg.norm(axes, axis=1, keepdims=True)
    alignment = axes @ np.asarray(CAMERA_UP, dtype=np.float64)
    k = int(np.argmax(np.abs(alignment)))
    up = axes[k] * (1.0 if alignment[k] >= 0 else -1.0)
    return np.asarray(corners_2d)[order_box_corners(corners_2d, corners_3d, up)]


def item_from_native(instance: BOPInstance) -> BOPPoseItem:
    """A :class:`~spacetools_env.tasks.bench_bop_pose.BOPPoseItem` for one BOP object instance."""
    corners = np.round(ordered_corners(instance.corners_2d, instance.corners_3d), DECIMALS)
    source_index = f"{instance.scene_id:06d}/{instance.im_id:06d}/{instance.gt_id:06d}"
    return BOPPoseItem(
        item_id="",
        question=QUESTION.format(name=instance.name),
        images=(instance.image,),
        truth=(instance.truth,),
        meta={
            "question_type": "pose",
            "data_source": f"BOP/{instance.dataset}/{instance.split}",
            "key": f"bop-{instance.dataset}",
            "source_index": source_index,
            "dataset": instance.dataset,
            "split": instance.split,
            "scene_id": instance.scene_id,
            "im_id": instance.im_id,
            "gt_id": instance.gt_id,
            "obj_id": instance.obj_id,
            "target": instance.name,
            "visib_fract": instance.visib_fract,
        },
        ground_truth=format_pairs((float(x), float(y)) for x, y in corners),
    )


def bop_scenes(dataset: str = DEFAULT_DATASET, names: Mapping[int, str] | None = None) -> functools.partial:
    """A ``source=`` for ``gym.make`` reading another BOP dataset or naming its objects.

    ``source_options={"dataset": ..., "names": ...}`` does the same from JSON-able arguments.

    >>> bop_scenes("lmo", {1: "ape"}).keywords["dataset"]
    'lmo'
    """
    return functools.partial(bop_scenes_source, build=item_from_native, dataset=dataset, names=names)


FAMILY = TaskFamily(
    name="BOPScenesPose",
    item_type=BOPPoseItem,
    score=score,
    oracle=oracle,
    description=__doc__ or "",
    counterexample=counterexample,
)
