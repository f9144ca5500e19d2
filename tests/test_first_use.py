"""What a new user meets first: misspelt gym.make options, and no pybullet banner in their output."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import gymnasium as gym
import pytest

from tests.conftest import ENV_ID


def test_misspelt_make_option_names_the_option_it_meant():
    with pytest.raises(TypeError, match=r"unknown gym.make option 'max_turn'\. Did you mean 'max_turns'\? Options: \["):
        gym.make(ENV_ID, max_turn=3)


def test_misspelt_render_mode_is_suggested_too():
    with pytest.raises(TypeError, match=r"'render_mod'\. Did you mean 'render_mode'\?"):
        gym.make(ENV_ID, render_mod="rgb_array")


def test_unknown_make_option_without_a_near_name_lists_the_options():
    with pytest.raises(TypeError, match=r"unknown gym.make option 'zzz'\. Options: \[.*'max_turns'.*EnvConfig"):
        gym.make(ENV_ID, zzz=1)


def test_correct_options_still_make_the_env():
    env = gym.make(ENV_ID, max_turns=3, render_mode="rgb_array")
    assert env.unwrapped.config.max_turns == 3
    env.close()


def test_importing_and_making_an_env_prints_no_pybullet_banner():
    script = textwrap.dedent(f"""
        import os
        import gymnasium as gym
        import spacetools_env
        env = gym.make({ENV_ID!r})
        env.reset(seed=0)
        env.close()
        import pybullet
        os.write(1, b"stdout-restored\\n")
        os.write(2, b"stderr-restored\\n")
        print("print-restored", flush=True)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=True)
    assert "pybullet build time" not in done.stdout + done.stderr
    assert done.stdout.split() == ["stdout-restored", "print-restored"]
    assert done.stderr.split() == ["stderr-restored"]


def test_misspelt_env_kwargs_in_the_eval_cli_is_a_clean_error(tmp_path, capsys):
    from benchmarks.cli import main

    args = ["eval", "--agent", "tool-program", "--suite", ENV_ID, "--out", str(tmp_path / "run"), "--episodes", "1",
            "--env-kwargs", '{"max_turn": 3}', "--no-progress"]
    assert main(args) == 2
    assert "spacetools: error: unknown gym.make option 'max_turn'. Did you mean 'max_turns'?" in capsys.readouterr().err
