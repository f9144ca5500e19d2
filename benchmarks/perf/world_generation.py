"""Scene generation time against PyBullet's own render of the same scenes.

For each seed the world generates a scene (layout sampling, posing pooled bodies, rendering,
depth linearisation, label mapping, masks); then the bare ``pybullet.getCameraImage`` call for
that scene's camera is timed on the same posed bodies. The target: generation costs at most
1.5x the bare render. A warm-up pass first fills the body pool, as a long-running process would.

    PYTHONPATH=. python benchmarks/perf/world_generation.py [--difficulty medium] [--scenes 30]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Mapping

import numpy as np

from spacetools_env.world import DIFFICULTIES, get_world
from spacetools_env.world.bullet import pb


def measure(difficulty: str = "medium", scenes: int = 30, seed: int = 0) -> Mapping[str, float]:
    """Median seconds of ``World.generate`` and of the bare render of the same scenes."""
    world = get_world()
    config = DIFFICULTIES[difficulty]
    for i in range(scenes):  # warm-up: create the pooled bodies these seeds need
        world.generate(np.random.default_rng(seed + i), config)
    generate, render = [], []
    for i in range(scenes):
        start = time.perf_counter()
        scene = world.generate(np.random.default_rng(seed + i), config)
        generate.append(time.perf_counter() - start)
        kwargs = world.camera_image_kwargs(scene.camera)
        start = time.perf_counter()
        pb.getCameraImage(**kwargs)
        render.append(time.perf_counter() - start)
    gen, ren = statistics.median(generate), statistics.median(render)
    return {"generate_s": gen, "render_s": ren, "ratio": gen / ren}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--difficulty", choices=sorted(DIFFICULTIES), default="medium")
    parser.add_argument("--scenes", type=int, default=30)
    args = parser.parse_args()
    m = measure(args.difficulty, args.scenes)
    label = f"{args.difficulty}, 640x480"
    print(f"world.generate          median {m['generate_s'] * 1e3:7.1f} ms/scene ({label})")
    print(f"bare getCameraImage     median {m['render_s'] * 1e3:7.1f} ms/scene")
    print(f"ratio                   {m['ratio']:.2f}x (target <= 1.5x)")


if __name__ == "__main__":
    main()
