"""Item generation, cached resets, memory and vector-env throughput, measured in one run.

Figures (issue 2):
- item generation at 640x480 <= 1.5x PyBullet's own ``getCameraImage`` of the same scene;
- a cached ``reset`` < 5 ms; one env instance < 300 MB resident;
- ``AsyncVectorEnv`` with 2 workers >= 1.6x the throughput of ``SyncVectorEnv`` on generation.

    python benchmarks/perf/generation.py [--items 20] [--difficulty medium]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

import gymnasium as gym
import numpy as np

import spacetools_env
from spacetools_env.sources import SyntheticSource, clear_cache
from spacetools_env.world import DIFFICULTIES, get_world
from spacetools_env.world.bullet import pb

ENV_ID = "SpaceTools-Synth-RelativeDepth-v0"


def item_generation(difficulty: str, items: int) -> dict[str, tuple[float, float, float]]:
    """Per family: median item generation time, median bare render of its scene, median ratio."""
    world = get_world()
    out = {}
    for name, family in sorted(spacetools_env.families().items()):
        if family.generate is None:
            continue
        source = SyntheticSource(family, DIFFICULTIES[difficulty])
        source.generate("train", 0)  # warm-up: pool bodies, caches
        gen, ren, ratio = [], [], []
        for index in range(items):
            start = time.perf_counter()
            source.generate("test", index)
            elapsed = time.perf_counter() - start
            camera = world.last_camera
            if camera is None:
                raise RuntimeError(f"family {name!r}: generating item {index} rendered no scene to time")
            kwargs = world.camera_image_kwargs(camera)
            start = time.perf_counter()
            pb.getCameraImage(**kwargs)
            render = time.perf_counter() - start
            gen.append(elapsed)
            ren.append(render)
            ratio.append(elapsed / render)
        out[name] = (statistics.median(gen), statistics.median(ren), statistics.median(ratio))
    return out


def cached_reset_ms(resets: int = 200) -> float:
    env = gym.make(ENV_ID)
    env.reset(options={"index": 0})
    samples = []
    for _ in range(resets):
        start = time.perf_counter()
        env.reset(options={"index": 0})
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1e3


_RSS_SCRIPT = """
import json, resource, gymnasium as gym, spacetools_env
env = gym.make("SpaceTools-Synth-BoxPose-v0")
for i in range(40):
    env.reset(options={"index": i})
    env.step('<tool_call>{"name": "depth_estimator.estimate_depth_with_pointcloud", '
             '"arguments": {"image_index": 0}}</tool_call>')
rss = int(open("/proc/self/statm").read().split()[1]) * resource.getpagesize()
print(json.dumps({"rss_mb": rss / 2**20, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def env_memory_mb() -> dict[str, float]:
    """Resident memory of a fresh process holding one env after 40 distinct items (cache full)."""
    out = subprocess.run([sys.executable, "-c", _RSS_SCRIPT], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def vector_throughput(resets: int = 12) -> dict[str, float]:
    """Items generated per second by 2 envs, sync vs async; every reset draws a fresh item.

    The cache is cleared before the envs are built (async workers fork and would inherit it),
    and each mode draws its own seeds, so every timed reset generates.
    """
    rates = {}
    for offset, mode in enumerate(("sync", "async")):
        clear_cache()
        envs = spacetools_env.make_vec(ENV_ID, num_envs=2, mode=mode)
        # gymnasium types VectorEnv.reset(seed=) as int only; Sync/AsyncVectorEnv take one seed per env.
        envs.reset(seed=[10_000 + offset, 20_000 + offset])  # type: ignore[arg-type]  # start workers, warm world
        seeds = np.arange(resets * 2).reshape(resets, 2) + 1000 * (offset + 1)
        start = time.perf_counter()
        for pair in seeds:
            envs.reset(seed=[int(s) for s in pair])  # type: ignore[arg-type]  # see above
        rates[mode] = resets * 2 / (time.perf_counter() - start)
        envs.close()
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=20)
    parser.add_argument("--difficulty", choices=sorted(DIFFICULTIES), default="medium")
    args = parser.parse_args()
    print(f"item generation at 640x480 ({args.difficulty}), medians over {args.items} items per family:")
    rows = item_generation(args.difficulty, args.items)
    for name, (gen, ren, ratio) in rows.items():
        print(f"  {name:<22} generate {gen * 1e3:6.1f} ms   render {ren * 1e3:6.1f} ms   ratio {ratio:.2f}x")
    print(f"  worst family ratio {max(r[2] for r in rows.values()):.2f}x (target <= 1.5x)")
    print(f"cached reset: median {cached_reset_ms():.3f} ms (target < 5 ms)")
    mem = env_memory_mb()
    print(f"one env, 40 items generated: RSS {mem['rss_mb']:.0f} MB, peak {mem['peak_mb']:.0f} MB (target < 300 MB)")
    rates = vector_throughput()
    print(
        f"generation throughput: sync {rates['sync']:.2f} items/s, async (2 workers) {rates['async']:.2f} items/s, "
        f"ratio {rates['async'] / rates['sync']:.2f}x (target >= 1.6x)"
    )


if __name__ == "__main__":
    main()
