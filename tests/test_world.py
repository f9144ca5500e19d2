"""The procedural tabletop world: exact ground truth, determinism, and the SceneConfig contract.

Everything renders for real with PyBullet's TinyRenderer; nothing is mocked.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from spacetools_env.world import (
    CATEGORIES,
    DIFFICULTIES,
    FLOOR_LABEL,
    MESH_MODELS,
    OBJECT_LABEL_OFFSET,
    PALETTE,
    TABLE_LABEL,
    Camera,
    Scene,
    SceneConfig,
    get_world,
)
from spacetools_env.world.geometry import box_corners, polygon_distance

REPO_ROOT = Path(__file__).resolve().parents[1]
SEEDS = (0, 1, 2)


def scene_digest(scene: Scene) -> str:
    """Hash of everything a scene shows and knows."""
    h = hashlib.sha256()
    for array in (scene.rgb, scene.depth, scene.segmentation, scene.camera.view_matrix):
        h.update(np.ascontiguousarray(array).tobytes())
    for obj in scene.objects:
        h.update(obj.name.encode())
        for array in (obj.position, obj.orientation, obj.extents, obj.corners_world, obj.mask):
            h.update(np.ascontiguousarray(array).tobytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def world():
    return get_world()


@pytest.fixture(scope="module")
def scenes(world) -> list[tuple[str, Scene]]:
    return [
        (name, world.generate(np.random.default_rng(seed), config))
        for name, config in DIFFICULTIES.items()
        for seed in SEEDS
    ]


# ---------------------------------------------------------------- determinism


def test_same_seed_gives_identical_scene_whatever_was_generated_before(world):
    config = DIFFICULTIES["hard"]
    first = world.generate(np.random.default_rng(11), config)
    # Different scenes in between change which pooled bodies exist and where they are.
    world.generate(np.random.default_rng(12), DIFFICULTIES["easy"])
    world.generate(np.random.default_rng(13), SceneConfig(categories=("cylinder", "ball", "box")))
    again = world.generate(np.random.default_rng(11), config)
    assert scene_digest(first) == scene_digest(again)
    np.testing.assert_array_equal(first.rgb, again.rgb)
    np.testing.assert_array_equal(first.depth, again.depth)
    np.testing.assert_array_equal(first.segmentation, again.segmentation)


def test_same_seed_gives_identical_scene_in_a_fresh_process(world):
    local = scene_digest(world.generate(np.random.default_rng(21), DIFFICULTIES["medium"]))
    code = (
        "import numpy as np, sys\n"
        f"sys.path.insert(0, {str(Path(__file__).resolve().parent)!r})\n"
        "from test_world import scene_digest\n"
        "from spacetools_env.world import DIFFICULTIES, get_world\n"
        "print(scene_digest(get_world().generate(np.random.default_rng(21), DIFFICULTIES['medium'])))\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT, env=env, check=True
    )
    assert out.stdout.strip().splitlines()[-1] == local


def test_different_seeds_give_different_scenes(world):
    a = world.generate(np.random.default_rng(31), DIFFICULTIES["medium"])
    b = world.generate(np.random.default_rng(32), DIFFICULTIES["medium"])
    assert scene_digest(a) != scene_digest(b)


# ---------------------------------------------------------------- exact geometry


def test_object_pixels_back_project_inside_their_3d_box(scenes):
    for _, scene in scenes:
        points = scene.world_points()
        for obj in scene.objects:
            local = (points[obj.mask] - obj.position) @ obj.rotation_matrix
            outside = np.maximum(np.abs(local) - obj.extents / 2, 0.0).max()
            assert outside < 0.002, f"{obj.name}: visible surface {outside * 1000:.2f} mm outside its box"


def test_table_pixels_lie_on_the_table_plane(scenes):
    # 0.5 mm is tighter than half a pixel's depth change, so this pins the pixel-centre convention.
    for _, scene in scenes:
        z = scene.world_points()[scene.table_mask()][:, 2]
        assert z.size > 0.4 * scene.depth.size, "the table should fill much of the view"
        assert np.abs(z - scene.table.z).max() < 0.0005


def test_boxes_fit_their_shapes_tightly(scenes):
    # Each box face is touched by the object (seen from some view); check the top at least.
    for _, scene in scenes:
        points = scene.world_points()
        for obj in scene.objects:
            top = points[obj.mask][:, 2].max()
            if obj.pixel_count > 300:
                assert top == pytest.approx(obj.position[2] + obj.extents[2] / 2, abs=0.01), obj.name


def test_projected_box_corners_enclose_the_visible_mask(scenes):
    for _, scene in scenes:
        size = np.array(scene.size)
        for obj in scene.objects:
            xy = scene.camera.project(obj.corners_world)
            assert np.all((xy >= 0) & (xy <= 1)), f"{obj.name} is not fully in view"
            rows, cols = np.nonzero(obj.mask)
            centres = (np.stack([cols, rows], axis=1) + 0.5) / size
            lo, hi = xy.min(0) - 1e-9, xy.max(0) + 1e-9
            assert np.all((centres >= lo) & (centres <= hi)), obj.name


def test_objects_stand_on_the_table_inside_its_edges(scenes):
    for _, scene in scenes:
        for obj in scene.objects:
            np.testing.assert_allclose(obj.corners_world[:4, 2], scene.table.z, atol=1e-12)
            assert scene.table.contains_xy(obj.corners_world[:, :2]).all()


def test_corners_follow_the_documented_order(scenes):
    for _, scene in scenes:
        for obj in scene.objects:
            c = obj.corners_world
            np.testing.assert_allclose(c[4:, :2], c[:4, :2], atol=1e-12)
            assert np.all(c[4:, 2] > c[:4, 2])
            edges = np.roll(c[:4, :2], -1, axis=0) - c[:4, :2]
            turns = (
                edges[:, 0] * np.roll(edges, -1, axis=0)[:, 1]
                - edges[:, 1] * np.roll(edges, -1, axis=0)[:, 0]
            )
            assert np.all(turns > 0), "bottom face must be counter-clockwise seen from above"
            expected = box_corners(obj.position, obj.rotation_matrix, obj.extents)
            np.testing.assert_allclose(c, expected, atol=1e-12)


def test_footprints_keep_the_configured_spacing(scenes):
    for name, scene in scenes:
        spacing = DIFFICULTIES[name].min_spacing_m
        for i, a in enumerate(scene.objects):
            for b in scene.objects[i + 1 :]:
                gap = polygon_distance(a.footprint_xy, b.footprint_xy).min()
                assert gap >= spacing - 1e-9, f"{a.name} and {b.name} are {gap:.4f} m apart"


def test_depth_is_inf_exactly_where_nothing_is_hit(world):
    # A low camera from afar sees past the floor's edge.
    scene = world.generate(
        np.random.default_rng(5),
        SceneConfig(camera_distance_m=(1.4, 1.4), elevation_deg=(12.0, 12.0), num_objects=(1, 2)),
    )
    missing = ~np.isfinite(scene.depth)
    assert missing.any()
    assert np.all(scene.segmentation[missing] == FLOOR_LABEL)
    assert np.isnan(scene.world_points()[missing]).all()
    assert np.isfinite(scene.depth[scene.segmentation != FLOOR_LABEL]).all()


# ---------------------------------------------------------------- labels, masks, names


def test_masks_and_labels_agree_with_the_segmentation(scenes):
    for name, scene in scenes:
        labels = [obj.label for obj in scene.objects]
        assert labels == list(range(OBJECT_LABEL_OFFSET, OBJECT_LABEL_OFFSET + len(labels)))
        assert set(np.unique(scene.segmentation)) <= {FLOOR_LABEL, TABLE_LABEL, *labels}
        assert scene.segmentation.dtype == np.int32 and scene.depth.dtype == np.float32
        assert scene.rgb.shape == (*scene.depth.shape, 3) and scene.rgb.dtype == np.uint8
        for obj in scene.objects:
            np.testing.assert_array_equal(obj.mask, scene.segmentation == obj.label)
            assert obj.pixel_count == int(obj.mask.sum()) >= DIFFICULTIES[name].min_visible_px
            assert scene.object(obj.name) is obj


def test_names_are_unique_and_match_the_catalogue(scenes):
    for name, scene in scenes:
        names = scene.names
        assert len(set(names)) == len(names)
        low, high = DIFFICULTIES[name].num_objects
        assert low <= len(names) <= high
        for obj in scene.objects:
            assert obj.category in CATEGORIES
            if obj.category in MESH_MODELS:
                assert obj.color is None and obj.name == obj.category
            else:
                assert obj.color in PALETTE and obj.name == f"{obj.color} {obj.category}"


def test_unknown_object_name_lists_the_objects(scenes):
    scene = scenes[0][1]
    with pytest.raises(KeyError, match="No object named 'unicorn' in this scene; objects:"):
        scene.object("unicorn")


def test_categories_restrict_the_objects(world):
    config = SceneConfig(num_objects=(5, 5), categories=("cube", "box"))
    scene = world.generate(np.random.default_rng(3), config)
    assert {o.category for o in scene.objects} <= {"cube", "box"}
    assert all(o.is_cuboid for o in scene.objects)


def test_free_space_excludes_object_footprints_and_table_edges(scenes):
    scene = scenes[1][1]
    clearance = 0.05
    free = scene.free_space_mask(clearance)
    assert free.any()
    assert not (free & ~scene.table_mask()).any()
    xy = scene.world_points()[free][:, :2]
    assert scene.table.contains_xy(xy, margin=clearance - 1e-9).all()
    for obj in scene.objects:
        assert not (free & obj.mask).any()
        assert polygon_distance(xy, obj.footprint_xy).min() > clearance
    assert scene.free_space_mask(0.0).sum() > free.sum()


def test_free_space_rejects_negative_clearance(scenes):
    with pytest.raises(ValueError, match="clearance_m must be a finite number >= 0"):
        scenes[0][1].free_space_mask(-0.1)


# ---------------------------------------------------------------- camera conventions


def test_backprojected_pixels_project_back_to_their_centres():
    camera = Camera.look_at(
        np.array([0.3, -0.8, 1.4]),
        np.array([0.0, 0.1, 0.75]),
        width=64,
        height=48,
        fov_deg=60,
        near=0.05,
        far=10,
    )
    depth = np.random.default_rng(0).uniform(0.5, 3.0, size=(48, 64))
    points = camera.backproject(depth)
    np.testing.assert_allclose(camera.world_to_camera(points.reshape(-1, 3))[:, 2], depth.ravel(), rtol=1e-12)
    xy = camera.project(points.reshape(-1, 3)).reshape(48, 64, 2)
    cols, rows = np.meshgrid(np.arange(64), np.arange(48))
    np.testing.assert_allclose(xy[..., 0], (cols + 0.5) / 64, atol=1e-12)
    np.testing.assert_allclose(xy[..., 1], (rows + 0.5) / 48, atol=1e-12)


def test_camera_frame_is_x_right_y_down_z_forward():
    camera = Camera.look_at(
        np.array([0.0, -1.0, 1.0]),
        np.array([0.0, 0.0, 1.0]),
        width=40,
        height=30,
        fov_deg=60,
        near=0.1,
        far=5,
    )
    cam = camera.world_to_camera(np.array([[0.0, 0.0, 1.0], [0.1, 0.0, 1.0], [0.0, 0.0, 1.1]]))
    np.testing.assert_allclose(cam[0], [0.0, 0.0, 1.0], atol=1e-12)
    assert cam[1, 0] > 0 and cam[2, 1] < 0  # world +x is image right, world up is image up
    np.testing.assert_allclose(camera.project(np.array([[0.0, 0.0, 1.0]])), [[0.5, 0.5]])
    assert camera.focal_length_px == pytest.approx(15 / np.tan(np.radians(30)))
    np.testing.assert_allclose(camera.intrinsics[:2, 2], [20.0, 15.0])


def test_depth_buffer_linearisation_is_metric():
    camera = Camera.look_at(
        np.zeros(3), np.array([0.0, 1.0, 0.0]), width=4, height=4, fov_deg=60, near=0.1, far=10
    )
    np.testing.assert_allclose(camera.depth_from_buffer(np.array([0.0, 1.0])), [0.1, 10.0], rtol=1e-6)


# ---------------------------------------------------------------- config and lifecycle


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"num_objects": (5, 3)}, r"num_objects must be a \(min, max\) tuple of ints with 1 <= min <= max"),
        ({"num_objects": (0, 3)}, r"num_objects must be"),
        ({"min_spacing_m": -0.01}, r"min_spacing_m must be between 0 and 0.3 metres; got -0.01"),
        ({"camera_distance_m": (1.0, 0.5)}, r"camera_distance_m must be a \(min, max\) tuple"),
        ({"elevation_deg": (30.0, 90.0)}, r"elevation_deg must be .* <= 85.0 degrees; got \(30.0, 90.0\)"),
        ({"azimuth_deg": (0.0,)}, r"azimuth_deg must be a \(min, max\) tuple"),
        ({"width": 0}, r"width must be an int from 32 to 4096 pixels; got 0"),
        ({"fov_deg": 170.0}, r"fov_deg must be between 20 and 120 degrees"),
        ({"categories": ("cube", "unicorn")}, r"unknown names \['unicorn'\]; available: \['cube'"),
        ({"categories": ()}, r"categories must be None or a non-empty tuple"),
        ({"categories": ("mug",), "num_objects": (1, 2)}, r"allow only 1 distinct objects"),
        ({"min_visible_px": -1}, r"min_visible_px must be an int from 0 to 5000"),
        ({"categories": "cube"}, r"got the string 'cube'. Did you mean \('cube',\)\?"),
    ],
)
def test_scene_config_rejects_bad_values(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SceneConfig(**kwargs)


def test_scene_config_accepts_lists_from_config_files():
    config = SceneConfig(num_objects=[2, 3], elevation_deg=[30, 50], categories=["cube", "mug"])
    assert config.num_objects == (2, 3) and config.categories == ("cube", "mug")


def test_difficulty_presets_grow_clutter_occlusion_and_distance():
    easy, medium, hard = (DIFFICULTIES[k] for k in ("easy", "medium", "hard"))
    assert easy.num_objects[1] <= medium.num_objects[0] + 1 and medium.num_objects[1] <= hard.num_objects[0]
    assert easy.min_spacing_m > medium.min_spacing_m > hard.min_spacing_m
    assert easy.elevation_deg[0] > medium.elevation_deg[0] > hard.elevation_deg[0]
    assert easy.camera_distance_m[1] <= medium.camera_distance_m[1] <= hard.camera_distance_m[1]


def test_world_is_a_per_process_singleton_that_refuses_pickling(world):
    assert get_world() is world
    with pytest.raises(TypeError, match="cannot be pickled; drop it in your __getstate__"):
        pickle.dumps(world)


def _digest_in_child(seed: int) -> tuple[int, str]:
    world = get_world()
    return world.pid, scene_digest(world.generate(np.random.default_rng(seed), DIFFICULTIES["easy"]))


@pytest.mark.skipif(sys.platform != "linux", reason="fork start method")
def test_forked_process_gets_its_own_world_with_the_same_scenes(world):
    import multiprocessing

    expected = scene_digest(world.generate(np.random.default_rng(41), DIFFICULTIES["easy"]))
    with multiprocessing.get_context("fork").Pool(1) as pool:
        child_pid, digest = pool.apply(_digest_in_child, (41,))
    assert child_pid != os.getpid()
    assert digest == expected
    assert get_world() is world


def test_every_object_is_4_to_15_cm(scenes):
    for _, scene in scenes:
        for obj in scene.objects:
            assert 0.04 <= obj.extents.max() <= 0.15, obj.name


def test_scene_pickles_round_trip(scenes):
    scene = scenes[0][1]
    scene.world_points()  # the cache must not break or bloat pickling
    clone = pickle.loads(pickle.dumps(scene))
    assert scene_digest(clone) == scene_digest(scene)
    np.testing.assert_array_equal(clone.world_points(), scene.world_points())


def test_pool_reuses_bodies_across_scenes(world):
    config = DIFFICULTIES["medium"]
    for seed in range(3):
        world.generate(np.random.default_rng(100 + seed), config)
    count = world.body_count
    for seed in range(3):
        world.generate(np.random.default_rng(100 + seed), config)
    assert world.body_count == count
