"""Leaderboard validation of hostile input: what validates, builds; cost is bounded first; no code is selected.

Real submissions (``run_eval`` with the tool-program agent) are corrupted the way a broken disk
or a cheating submitter would, then validated with :func:`validate_submission` and built with the
real CLI (``spacetools leaderboard build``).
"""

from __future__ import annotations

import functools
import json
import pickle
import shutil
import sys
import time
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
from fixtures_hostile import GENERATORS, WITHIN_LIMITS, timed_against_normal, write
from fixtures_runs import eval_submission

from benchmarks.cli import main
from benchmarks.leaderboard import Limits, validate_submission
from benchmarks.leaderboard.files import code_problem
from benchmarks.leaderboard.strict_json import JsonTextError, loads

SMALL = "SpaceTools-Synth-RelativeDepth-v0,SpaceTools-Synth-FreeSpace-v0"


@pytest.fixture(scope="module")
def submission(tmp_path_factory) -> Path:
    """2 synthetic families x 3 items played by the tool-program agent, plus submission.json."""
    out = eval_submission(tmp_path_factory.mktemp("submission"), "tool-program", SMALL, episodes=3)
    assert validate_submission(out).ok  # and the answer keys are warm for the timing test
    return out


@pytest.fixture
def copy(submission, tmp_path) -> Path:
    return Path(shutil.copytree(submission, tmp_path / "sub"))


def _rejected(path: Path, *needles: str, **kwargs) -> list[str]:
    report = validate_submission(path, **kwargs)
    assert not report.ok
    reasons = report.reasons()
    for needle in needles:
        assert any(needle in r for r in reasons), f"{needle!r} not in {reasons}"
    return reasons


def _edit_manifest(path: Path, change) -> None:
    manifest = json.loads((path / "manifest.json").read_text())
    change(manifest)
    (path / "manifest.json").write_text(json.dumps(manifest, indent=1))


# ---------------------------------------------------------------------- text the site could not read
def _bom(data: bytes) -> bytes:
    return b"\xef\xbb\xbf" + data


def _raw_bytes(data: bytes) -> bytes:  # a UTF-8-encoded surrogate: json.loads(bytes) let it through
    lines = data.split(b"\n")
    lines[1] = lines[1].replace(b"Detected 1 instance", b"Detected \xed\xa0\x80 1 instance", 1)
    return b"\n".join(lines)


def _escaped_surrogate(data: bytes) -> bytes:
    lines = data.split(b"\n")
    lines[2] = lines[2].replace(b'"agent":"tool-program"', b'"agent":"tool-program\\ud800"', 1)
    return b"\n".join(lines)


def _carriage_return(data: bytes) -> bytes:  # JSON whitespace, but a line break to the site's text-mode reader
    lines = data.split(b"\n")
    lines[3] = lines[3].replace(b'"agent":"tool-program",', b'"agent":"tool-program",\r', 1)
    return b"\n".join(lines)


UNREADABLE = {
    "bom": (_bom, "results.jsonl:1: is not valid JSON (starts with a UTF-8 byte order mark (BOM); "
                  "save the file as UTF-8 without a BOM)"),
    "invalid utf-8": (_raw_bytes, "results.jsonl:2: is not valid JSON (holds bytes b'\\xed' at byte"),
    "lone surrogate": (_escaped_surrogate, "results.jsonl:3: is not valid JSON (the escape \\ud800 is a lone "
                                           "surrogate (half of a UTF-16 pair), not a character; UTF-8 cannot "
                                           "encode it: write the text as UTF-8, or escape a whole pair)"),
    "carriage return": (_carriage_return, "results.jsonl:4: holds a carriage return (\\r) inside the line, which text "
                                          "readers take for a line break; spacetools eval writes one record per "
                                          "\\n-terminated line"),
}


@pytest.mark.parametrize("kind", list(UNREADABLE))
def test_results_text_the_site_cannot_read_is_rejected_naming_file_and_line(copy, kind):
    corrupt, message = UNREADABLE[kind]
    path = copy / "results.jsonl"
    path.write_bytes(corrupt(path.read_bytes()))
    _rejected(copy, message)


def test_manifest_and_submission_text_errors_name_their_line(copy):
    manifest = (copy / "manifest.json").read_text()
    (copy / "manifest.json").write_bytes(json.dumps(json.loads(manifest), indent=1).encode().replace(
        b'"git_revision": "', b'"git_revision": "\xff', 1))
    line = next(n for n, text in enumerate((copy / "manifest.json").read_bytes().split(b"\n"), 1) if b"\xff" in text)
    meta = (copy / "submission.json").read_text()
    (copy / "submission.json").write_text(meta.replace('"oracle tools"', '"oracle \\udc00 tools"'))
    _rejected(copy, f"manifest.json:{line}: is not valid JSON (holds bytes b'\\xff'",
              "submission.json:1: is not valid JSON (the escape \\udc00 is a lone surrogate")
    (copy / "submission.json").write_bytes(_bom(meta.encode()))
    _rejected(copy, "submission.json:1: is not valid JSON (starts with a UTF-8 byte order mark")


def test_site_build_rejects_what_it_cannot_read_and_ranks_the_rest(submission, tmp_path, capsys):
    """Each of these aborted `leaderboard build` for every submission (UnicodeDecodeError/EncodeError, JSON errors)."""
    bad = []
    for kind, (corrupt, _) in UNREADABLE.items():
        path = Path(shutil.copytree(submission, tmp_path / kind.replace(" ", "-")))
        path.joinpath("results.jsonl").write_bytes(corrupt(path.joinpath("results.jsonl").read_bytes()))
        bad.append(str(path))
    model = Path(shutil.copytree(submission, tmp_path / "model-name"))
    meta = model.joinpath("submission.json").read_text().replace('"oracle tools"', '"oracle \\ud800"')
    model.joinpath("submission.json").write_text(meta)
    out = tmp_path / "site"
    argv = ["leaderboard", "build", *bad, str(model), str(submission), "--out", str(out), "--trajectories", "1"]
    assert main(argv) == 0
    printed = capsys.readouterr()
    assert printed.out.count("REJECTED") + printed.err.count("REJECTED") >= 5, printed
    index = (out / "index.html").read_text(encoding="utf-8")
    assert "oracle tools" in index and index.count("byte order mark") == 1 and "lone surrogate" in index
    assert len(list((out / "s").iterdir())) == 1  # only the good one has a page


def test_strict_reader_accepts_what_spacetools_eval_writes():
    assert loads(rb'{"a": "\ud83d\ude00", "b": "\\ud800 is text", "c": [[1.5]]}') == {
        "a": "\U0001f600", "b": "\\ud800 is text", "c": [[1.5]]}
    assert loads('{"x": "caf\u00e9"}'.encode()) == {"x": "caf\u00e9"}
    with pytest.raises(JsonTextError, match="nests 40 levels deep; at most 32 are accepted") as caught:
        loads("{\n" + '"a": ' + "[" * 39 + "]" * 39 + "}")
    assert caught.value.line == 2


def test_numbers_json_cannot_hold_are_rejected_not_raised(copy):
    manifest = (copy / "manifest.json").read_text()
    (copy / "manifest.json").write_text(manifest.replace('"base": 0', '"base": ' + "7" * 5000, 1))
    lines = (copy / "results.jsonl").read_text().splitlines()
    lines[1] = lines[1].replace('"score":', '"score":1e999,"was":', 1)
    (copy / "results.jsonl").write_text("\n".join(lines) + "\n")
    _rejected(copy, "manifest.json: is not valid JSON (an integer of 5000 digits; at most 300 are accepted)",
              "results.jsonl:2: is not valid JSON (the number 1e999 overflows a float (JSON has no Infinity))")


def test_nesting_past_the_limit_is_rejected_before_parsing(copy):
    lines = (copy / "results.jsonl").read_text().splitlines()
    lines[0] = lines[0].replace('"meta":{', '"meta":{"deep":' + "[" * 33 + "]" * 33 + ",", 1)
    (copy / "results.jsonl").write_text("\n".join(lines) + "\n")
    _rejected(copy, "results.jsonl:1: is not valid JSON (nests 35 levels deep; at most 32 are accepted")


# ---------------------------------------------------------------------- pickles by content
class _Thing:
    def __init__(self) -> None:
        self.values = [1, 2.5, "x"]


PICKLED = OrderedDict(
    dict={"a": 1, "b": [1, 2]}, list=[1, 2, 3], instance=_Thing(), array=np.arange(4), set={1, 2}, tuple=(1, "x"),
)


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_pickles_of_every_protocol_are_found_by_content(tmp_path, protocol):
    for name, value in PICKLED.items():
        path = tmp_path / f"{name}.txt"
        path.write_bytes(pickle.dumps(value, protocol=protocol))
        problem = code_problem(path)
        assert problem is not None and problem.startswith("looks like a pickle"), (name, protocol, problem)


@pytest.mark.parametrize(
    "text",
    [b'{"a": 1}\n', b"[1, 2, 3]", b"# Notes\nSome words.\n", b"N. B. read me first", b"model,score\nm,0.5\n",
     b"changelog\nversion 1\n", b"import os\n", b"12345", b"(draft) notes\n", b"", b"\n\n{}",
     b"(c) 2026\nLab\n(c) more\n"],
)
def test_legitimate_text_is_not_taken_for_a_pickle(tmp_path, text):
    path = tmp_path / "notes.txt"
    path.write_bytes(text)
    assert code_problem(path) is None


def test_a_pickle_cut_before_stop_that_imports_is_still_found(tmp_path):
    path = tmp_path / "run.txt"
    path.write_bytes(b"cos\nsystem\n(S'ls'\ntR")  # pickle.load runs os.system('ls') before it misses STOP
    assert code_problem(path).startswith("looks like a pickle (its bytes read as pickle opcodes GLOBAL, MARK")


def test_protocol_0_and_1_pickles_saved_as_text_reject_the_submission(copy):
    (copy / "notes.txt").write_bytes(pickle.dumps(_Thing(), protocol=0))
    (copy / "extra.json").write_bytes(pickle.dumps({"score": 1.0}, protocol=1))
    _rejected(copy, "notes.txt: looks like a pickle (its bytes read as pickle opcodes GLOBAL",
              "extra.json: looks like a pickle (its bytes read as pickle opcodes EMPTY_DICT")


# ---------------------------------------------------------------------- cost bounded before work starts
def test_huge_difficulty_override_is_rejected_before_anything_renders(copy):
    """Today 131 s and 1.2 GB of rendering before SceneConfig's own limit said no."""

    def huge(manifest):
        for entry in manifest["envs"]:
            entry["make_kwargs"]["difficulty"] = {"width": 4096, "height": 4096}

    _edit_manifest(copy, huge)
    started = time.perf_counter()
    _rejected(copy, "manifest.json: envs make_kwargs SpaceTools-Synth-RelativeDepth-v0: difficulty width must be an "
                    "integer from 32 to 1024 pixels (the validator's limit), got 4096", cache=False, workers=1)
    assert time.perf_counter() - started < 5.0


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("difficulty", {"width": 1024, "height": 1024}, "difficulty renders 1024x1024 = 1048576 pixels per image; "
                                                        "the validator renders at most 786432"),
        ("difficulty", {"min_visible_px": 5000}, "difficulty min_visible_px is 5000; at most 1000"),
        ("difficulty", {"num_objects": [1, 99]}, "difficulty num_objects allows 99 objects; at most 16 per scene"),
        ("difficulty", {"fov_deg": 5}, "difficulty is not a valid scene: SceneConfig.fov_deg must be between 20"),
        ("difficulty", "nightmare", "difficulty must be one of the presets ['easy', 'hard', 'medium']"),
        ("difficulty", {"categories": ["mug"] * 2000}, "difficulty is 14016 bytes as JSON; at most 4096 are accepted"),
        ("max_turns", 1_000_000, "max_turns must be an integer from 1 to 64 (the validator's limit; the env's "
                                 "default is 8), got 1000000"),
        ("max_calls_per_turn", 0, "max_calls_per_turn must be an integer from 1 to 32"),
        ("tools", ["t"] * 65, "tools must be null or a list of at most 64 tool names"),
        ("reward_weights", {"score": float("1e300")},
         "reward_weights weight 'score' must be a number from -1000 to 1000, got 1e+300"),
        ("source_options", {"x": "y" * 5000}, "source_options is 5009 bytes as JSON; at most 4096 are accepted"),
        ("max_episode_steps", 5, "unknown option 'max_episode_steps'; a manifest may set ["),
        ("max_turn", 5, "unknown option 'max_turn' (did you mean 'max_turns'?); a manifest may set ["),
        ("tool_backend", "oracle", "tool_backend chooses code, not questions; remove it and re-run"),
    ],
)
def test_make_options_are_checked_against_documented_limits(copy, option, value, message):
    def change(manifest):
        manifest["envs"][0]["make_kwargs"][option] = value

    _edit_manifest(copy, change)
    _rejected(copy, f"manifest.json: envs make_kwargs SpaceTools-Synth-RelativeDepth-v0: {message}")


# ---------------------------------------------------------------------- no code selected by a submission
def test_code_selecting_values_anywhere_in_the_manifest_are_refused(copy):
    def change(manifest):
        manifest["env_kwargs"] = {"tool_client": "os:system"}
        manifest["run"]["config"]["env_kwargs"] = {"source": None}
        manifest["envs"][1]["family"] = "builtins:eval"
        manifest["bonus"] = 1

    _edit_manifest(copy, change)
    _rejected(
        copy,
        "manifest.json: env_kwargs.tool_client chooses code, not questions; remove it and re-run",
        "manifest.json: run.config.env_kwargs.source chooses code",
        "manifest.json: envs[1].family is 'builtins:eval', a 'module:name' import string; a manifest never selects "
        "code, remove it",
        "manifest.json: unknown fields ['bonus']",
    )


def test_the_manifest_walk_is_bounded(copy):
    _edit_manifest(copy, lambda manifest: manifest["run"].update(extra=[[0]] * 60_000))
    started = time.perf_counter()
    _rejected(copy, "manifest.json: holds more than 50000 JSON values; a manifest as spacetools eval writes it holds "
                    "about 100 per env id")
    assert time.perf_counter() - started < 2.0


def test_the_submitters_own_agent_may_be_a_module_class(copy):
    def change(manifest):
        manifest["agent"] = {"name": "mylab.agents:Policy", "target": "mylab.agents:Policy", "kwargs": {"m": "x:y"}}
        manifest["run"]["config"]["agent"] = "mylab.agents:Policy"

    _edit_manifest(copy, change)
    report = validate_submission(copy)
    assert report.ok, report.reasons()


@pytest.fixture
def tripwire(tmp_path, monkeypatch) -> Path:
    """A module on sys.path that leaves a file behind when imported."""
    marker = tmp_path / "imported"
    (tmp_path / "d1_tripwire.py").write_text(f"open({str(marker)!r}, 'w').write('imported')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield marker
    sys.modules.pop("d1_tripwire", None)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("d1_tripwire:Env-v0", "suite.spec names 'd1_tripwire:Env-v0': the 'module:EnvId' form makes gym.make import "
                               "the module, so a submission would choose code; name a registered SpaceTools id"),
        ("CartPole-v1", "suite.spec names 'CartPole-v1', which is not a SpaceTools env id; without --suite only the "
                        "suite registry's suites (synth, paper, or SpaceTools ids) are validated"),
    ],
)
def test_env_ids_outside_the_suite_registry_are_refused_unimported(copy, tripwire, spec, message):
    def change(manifest):
        manifest["suite"]["spec"] = spec
        manifest["run"]["config"]["suite"] = spec

    _edit_manifest(copy, change)
    _rejected(copy, f"manifest.json: {message}")
    assert not tripwire.exists() and "d1_tripwire" not in sys.modules


def test_env_ids_resolve_only_against_the_suite_the_operator_named(copy, capsys):
    assert validate_submission(copy, suite=SMALL).ok
    _rejected(copy, f"manifest.json: suite.spec {SMALL!r} is not the suite this leaderboard validates ('synth'); "
                    "run `spacetools eval --suite synth`", suite="synth")
    assert main(["leaderboard", "validate", str(copy), "--suite", "synth"]) == 1
    assert "is not the suite this leaderboard validates ('synth')" in capsys.readouterr().out
    site = copy.parent / "site"
    assert main(["leaderboard", "build", str(copy), "--out", str(site), "--suite", "synth", "--trajectories", "0"]) == 1
    printed = capsys.readouterr()
    assert "is not the suite this leaderboard validates ('synth')" in printed.out + printed.err
    assert main(["leaderboard", "build", str(copy), "--out", str(site), "--suite", SMALL, "--trajectories", "0"]) == 0

    def stray(manifest):
        manifest["envs"][1]["env_id"] = "d1_tripwire:Env-v0"

    _edit_manifest(copy, stray)
    _rejected(copy, "manifest.json: envs[1].env_id 'd1_tripwire:Env-v0' is not an env id of the suite",
              "manifest.json: envs has no entry for ['SpaceTools-Synth-FreeSpace-v0']", suite=SMALL)


# ---------------------------------------------------------------------- per-record limits and hostile generators
HOSTILE_MESSAGES = {
    "longest string": None,  # within every limit: read and re-scored (a tool text is not scored)
    "deepest nesting": "is not valid JSON (nests",
    "most calls": "<tool_call> blocks; at most 64 are accepted (max_call_blocks",
    "most turns": "actions; at most 64 turns are accepted (max_turns)",
    "most images": "images; at most 2064 are accepted (max_images)",
    "most $ references": "$variable references; at most 4096 are accepted (max_references)",
}


def _records(submission: Path) -> list[dict]:
    return [json.loads(line) for line in (submission / "results.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("name", list(GENERATORS))
def test_each_hostile_generator_is_rejected_by_its_limit(submission, tmp_path, name):
    path = Path(shutil.copytree(submission, tmp_path / "sub"))
    write([GENERATORS[name](r, 256 * 1024) for r in _records(submission)], path / "results.jsonl")
    report = validate_submission(path)
    needle = HOSTILE_MESSAGES[name]
    if needle is None:
        assert report.ok, report.reasons()
    else:
        for line in range(1, 7):  # every record, each on its own line
            assert any(r.startswith(f"results.jsonl:{line}") and needle in r for r in report.reasons()), line


def test_record_limits_are_configurable(copy):
    _rejected(copy, "results.jsonl:1: the trajectory has 3 actions; at most 2 turns are accepted (max_turns)",
              limits=Limits(max_turns=2))
    _rejected(copy, "results.jsonl:1: trajectory.tool_calls holds 5 calls; at most 3 are accepted (max_calls)",
              limits=Limits(max_calls=3))
    _rejected(copy, "results.jsonl:1: the actions hold 2 $variable references; at most 1 are accepted (max_references)",
              limits=Limits(max_references=1))
    _rejected(copy, "results.jsonl:1: action 0 is", "characters; at most 100 are accepted (max_action_chars)",
              limits=Limits(max_action_chars=100))


@pytest.mark.parametrize("within", [False, True], ids=["past the limits", "just within the limits"])
def test_hostile_generators_validate_within_3x_a_normal_submission_of_their_size(submission, tmp_path, within):
    """Generous for CI: the best of 2 runs, 3x the normal time plus half a second.

    ``benchmarks/perf/validate_hostile.py`` prints the measured ratios on a larger submission.
    """
    records = _records(submission)
    for name in GENERATORS:
        make = WITHIN_LIMITS[name] if within else functools.partial(GENERATORS[name], size=256 * 1024)
        lines = [make(record) for record in records]
        folder = tmp_path / name.replace(" ", "_").replace("$", "d")
        timed = timed_against_normal(submission, lines, folder)
        (hostile, _), (normal_times, report) = timed["hostile"], timed["normal"]
        assert report.ok, report.reasons()  # the normal submission of that size is accepted
        assert min(hostile) <= 3 * min(normal_times) + 0.5, f"{name}: {hostile} vs normal {normal_times}"
