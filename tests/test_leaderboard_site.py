"""`spacetools leaderboard build`: the static site from real eval runs, checked in a real headless Chromium.

The browser tests drive Debian's chromium through chromedriver (Selenium). The README's test
command installs both (``apt-get install chromium chromium-driver``); without them these tests
fail with that fix, unless ``SPACETOOLS_SKIP_BROWSER_TESTS=1`` is set on purpose.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from fixtures_bench import build_spacetools_eval
from fixtures_runs import eval_submission
from PIL import Image

from benchmarks.cli import main
from benchmarks.leaderboard.site import SiteError, build_site
from benchmarks.leaderboard.site.ranking import headline, standing
from benchmarks.leaderboard.validate import validate_submission
from spacetools_env.overlays import answer_shapes

SYNTH = "SpaceTools-Synth-BoxPose-v0,SpaceTools-Synth-RefLocation-v0,SpaceTools-Synth-SpatialConfiguration-v0"
GRASP = "SpaceTools-BOP-Grasp-v0"
MAGENTA = np.array([255, 47, 208])
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
         "--window-size=1280,1600")


def _submission(root: Path, name: str, agent: str, model: str, suite: str, **kwargs) -> Path:
    return eval_submission(root / name, agent, suite, model=model, **kwargs)


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    """Tool programs and the blind baseline on 3 synthetic families, a tampered copy, and BOP grasps."""
    root = tmp_path_factory.mktemp("runs")
    data = build_spacetools_eval(root / "data", keys=["bopgrasp"])
    runs = {
        "tools": _submission(root, "tools", "tool-program", "Scripted tool programs", SYNTH, episodes=2),
        "blind": _submission(root, "blind", "blind-guess", "Blind guess", SYNTH, episodes=2),
        "grasp": _submission(root, "grasp", "blind-guess", "Blind grasps", GRASP, data_dir=str(data)),
    }
    tampered = Path(shutil.copytree(runs["tools"], root / "tampered"))
    records = [json.loads(line) for line in (tampered / "results.jsonl").read_text().splitlines()]
    records[0]["score"] = 0.25
    (tampered / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    runs["tampered"], runs["data"] = tampered, data
    return runs


@pytest.fixture(scope="module")
def site(runs, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site") / "site"
    subs = [runs["blind"], runs["tampered"], runs["tools"], runs["grasp"]]
    summary = build_site(subs, out, data_dir=str(runs["data"]), trajectories=2, log=lambda m: None)
    assert (summary.accepted, summary.rejected) == (3, 1)
    assert summary.trajectories == 2 * 3 * 2 + 2  # 2 per env id: 3 ids x 2 synthetic runs, and the grasp run
    return out


# ---------------------------------------------------------------------- the files
def test_site_ranks_by_rescored_scores_and_lists_the_rejected_with_reasons(site):
    index = (site / "index.html").read_text()
    assert index.index("Scripted tool programs") < index.index("Blind guess")  # ranked by mean headline
    assert "Rejected submissions" in index and "re-scored by the official scorer" in index
    pages = sorted(p.name for p in (site / "s").iterdir())
    assert len(pages) == 3 and not any("tampered" in p for p in pages)
    viewer = list((site / "s").glob("*/SpaceTools-Synth-BoxPose-v0_test_*.html"))
    assert viewer and all("differs from the record" not in p.read_text() for p in viewer)


def test_benchmark_runs_replay_against_the_operators_data(runs):
    report = validate_submission(runs["grasp"], data_dir=str(runs["data"]), replay=True)
    assert report.ok and report.rescored == report.episodes > 0, report.reasons()


def test_headline_follows_each_benchmark_rule():
    assert headline("RoboSpatial", {"VQA": 10.0, "Overall": 40.0}) == ("Overall", 40.0)
    assert headline("RefSpatial (synthetic)", {"Location": 1.0, "pooled": 2.0, "mean": 3.0}) == ("pooled", 2.0)
    assert headline("CV-Bench", {"2D-Relation": 50.0, "3D-Depth": 70.0}) == ("mean of tasks", 60.0)
    assert headline("BOP-ASK Pose", {"pose IoU x100": 12.5}) == ("pose IoU x100", 12.5)
    assert headline("BLINK", {}) is None


def test_rebuild_replaces_a_site_but_never_deletes_another_folder(runs, tmp_path, capsys):
    out = tmp_path / "site"
    assert main(["leaderboard", "build", str(runs["blind"]), "--out", str(out), "--trajectories", "0"]) == 0
    assert main(["leaderboard", "build", str(runs["blind"]), "--out", str(out), "--trajectories", "0"]) == 0
    assert not (out / "assets").exists() or not any((out / "assets").iterdir())
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "thesis.tex").write_text("do not delete")
    with pytest.raises(SiteError, match="not a site built by"):
        build_site([runs["blind"]], precious, log=lambda m: None)
    assert main(["leaderboard", "build", str(runs["blind"]), "--out", str(precious)]) == 2
    assert (precious / "thesis.tex").read_text() == "do not delete"
    assert main(["leaderboard", "build", str(runs["tampered"]), "--out", str(tmp_path / "bad")]) == 1
    assert "REJECTED" in capsys.readouterr().out


def test_a_replay_that_disagrees_with_the_record_is_flagged(runs, tmp_path):
    copy = Path(shutil.copytree(runs["tools"], tmp_path / "edited"))
    records = [json.loads(line) for line in (copy / "results.jsonl").read_text().splitlines()]
    first_call = next(r for r in records if r["trajectory"]["tool_calls"] and r["trajectory"]["tool_calls"][0])
    first_call["trajectory"]["tool_calls"][0][0]["text"] = "a tool text the env never printed"
    (copy / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    # Tool texts are not scored, so validation accepts it; the viewer must not hide the difference.
    build_site([copy], tmp_path / "site", trajectories=2, log=lambda m: None)
    flagged = [p for p in (tmp_path / "site" / "s").glob("*/*.html") if "differs from the record" in p.read_text()]
    assert len(flagged) == 1


# ---------------------------------------------------------------------- in the browser
@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    chromium, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    if chromium is None or driver_path is None:
        if os.environ.get("SPACETOOLS_SKIP_BROWSER_TESTS") == "1":
            pytest.skip("SPACETOOLS_SKIP_BROWSER_TESTS=1")
        pytest.fail("Debian's chromium and chromedriver are needed: apt-get install -y chromium chromium-driver "
                    "(or set SPACETOOLS_SKIP_BROWSER_TESTS=1 to skip the browser tests on purpose)")
    from selenium import webdriver

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in (*FLAGS, f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=driver_path))
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def _rows(browser) -> list[str]:
    from selenium.webdriver.common.by import By

    # the synthetic suite's table (the grasp run is ranked in a table of its own suite)
    rows = browser.find_elements(By.XPATH, "//table[contains(@class, 'ranking')][.//a[text()='Blind guess']]//tbody/tr")
    return [row.find_elements(By.TAG_NAME, "td")[1].text for row in rows]


def _images_loaded(browser) -> tuple[int, int]:
    return tuple(browser.execute_script(
        "var imgs = Array.from(document.images);"
        "return [imgs.length, imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length];"
    ))


def test_ranking_table_and_plots_render_and_sort_in_chromium(site, browser):
    from selenium.webdriver.common.by import By

    browser.get((site / "index.html").as_uri())
    assert browser.title == "SpaceTools leaderboard"
    assert _rows(browser) == ["Scripted tool programs", "Blind guess"]
    assert len(browser.find_elements(By.CSS_SELECTOR, "table.ranking")) == 2  # one per suite
    assert len(browser.find_elements(By.CSS_SELECTOR, "svg.chart rect.bar")) >= 6
    table = browser.find_element(By.XPATH, "//table[contains(@class, 'ranking')][.//a[text()='Blind guess']]")
    mean = next(th for th in table.find_elements(By.TAG_NAME, "th") if th.text.startswith("Mean"))
    mean.click()
    mean.click()  # the second click sorts ascending
    assert _rows(browser) == ["Blind guess", "Scripted tool programs"]
    assert "re-scored by the official scorer" in browser.find_element(By.CSS_SELECTOR, "table.rejected").text


def _overflow(browser) -> dict:
    """How far the page and each ranking table reach, in CSS pixels, and the window's width."""
    return browser.execute_script(
        "var tables = Array.from(document.querySelectorAll('table.ranking'));"
        "return {inner: window.innerWidth, page: document.documentElement.scrollWidth,"
        " right: Math.max.apply(null, tables.map(function (t) { return t.getBoundingClientRect().right; })),"
        " scrolls: tables.filter(function (t) { return t.parentNode.scrollWidth > t.parentNode.clientWidth; }).length,"
        " columns: Math.max.apply(null, tables.map(function (t) { return t.tHead.rows[0].cells.length; }))};"
    )


def test_ranking_table_fits_the_page_at_1280px_in_chromium(site, browser, tmp_path):
    # every synthetic family (one benchmark column each) and a model name with a 60-letter word
    wide = _submission(tmp_path, "wide", "blind-guess", "A model that goes on " + "x" * 60, "synth", episodes=1)
    build_site([wide], tmp_path / "site", trajectories=0, log=lambda m: None)
    for index in (site / "index.html", tmp_path / "site" / "index.html"):
        browser.get(index.as_uri())
        reach = _overflow(browser)
        assert reach["inner"] == 1280, reach
        assert reach["page"] <= reach["inner"] and reach["right"] <= reach["inner"] and reach["scrolls"] == 0, reach
    assert reach["columns"] >= 11, reach  # #, model, agent, tools, mean, episodes and >= 5 benchmarks


def test_trajectory_viewer_draws_tool_results_and_the_answer_in_chromium(site, runs, browser):
    from selenium.webdriver.common.by import By

    browser.get((site / "index.html").as_uri())
    browser.find_element(By.LINK_TEXT, "Scripted tool programs").click()
    link = next(a for a in browser.find_elements(By.CSS_SELECTOR, "a.episode") if "BoxPose" in a.text)
    episode_id = link.text
    link.click()
    assert browser.find_element(By.TAG_NAME, "h1").text.startswith("SpaceTools-Synth-BoxPose-v0")
    total, loaded = _images_loaded(browser)
    assert total >= 4 and loaded == total
    record = next(json.loads(line) for line in (runs["tools"] / "results.jsonl").read_text().splitlines()
                  if json.loads(line)["episode_id"] == episode_id)
    assert len(browser.find_elements(By.CSS_SELECTOR, "section.turn")) == record["turns"]
    for selector in ("circle.point.tool", "image.mask", "g.box.tool", "g.box.answer", "g.box.reference"):
        assert browser.find_elements(By.CSS_SELECTOR, selector), selector
    answer = browser.find_element(By.CSS_SELECTOR, "g.box.answer").find_element(By.XPATH, "ancestor::div[@class='fig']")
    browser.execute_script("arguments[0].scrollIntoView();", answer)
    pixels = np.asarray(Image.open(io.BytesIO(answer.screenshot_as_png)).convert("RGB")).astype(int)
    drawn = np.abs(pixels - MAGENTA).sum(axis=2) < 60
    assert drawn.sum() > 50, "the answer's box was not drawn over the image"


def test_grasp_answers_are_drawn_as_grippers_in_chromium(site, browser):
    from selenium.webdriver.common.by import By

    page = next((site / "s").glob("*-blind-grasps/SpaceTools-BOP-Grasp-v0_*.html"))
    browser.get(page.as_uri())
    assert browser.find_elements(By.CSS_SELECTOR, "g.grasp.answer line")
    assert browser.find_elements(By.CSS_SELECTOR, "g.grasp.reference line")
    total, loaded = _images_loaded(browser)
    assert total >= 1 and loaded == total


def test_submitted_text_is_escaped_never_run(runs, tmp_path):
    copy = Path(shutil.copytree(runs["blind"], tmp_path / "xss"))
    meta = json.loads((copy / "submission.json").read_text())
    meta["model"] = "<script>alert(1)</script>"
    meta["notes"] = "<img src=x onerror=alert(2)>"
    (copy / "submission.json").write_text(json.dumps(meta))
    build_site([copy], tmp_path / "site", trajectories=1, log=lambda m: None)
    for page in (tmp_path / "site").rglob("*.html"):
        text = page.read_text()
        assert "<script>alert" not in text and "<img src=x" not in text, page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in (tmp_path / "site" / "index.html").read_text()


# ---------------------------------------------------------------------- hostile or unusual submissions
class InvalidNamedToolAgent:
    """Calls a tool literally named ``invalid_action`` beside a real one, then answers."""

    name = "invalid-named-tool"

    def act(self, turns):
        out = []
        for turn in turns:
            if any(m["role"] == "tool" for m in turn.messages):
                out.append("<answer>(A)</answer>")
            else:
                out.append('<tool_call>{"name": "invalid_action", "arguments": {}}</tool_call>'
                           '<tool_call>{"name": "roborefer.detect_one", '
                           '"arguments": {"obj_name": "the point A", "image_index": 0}}</tool_call>')
        return out

    def end_episode(self, episode_id):
        pass


def test_a_tool_named_like_the_error_channel_does_not_shift_the_viewer(tmp_path):
    run = _submission(tmp_path, "odd", f"{__name__}:InvalidNamedToolAgent", "Odd tool names",
                      "SpaceTools-Synth-RelativeDepth-v0", episodes=1)
    build_site([run], tmp_path / "site", trajectories=1, log=lambda m: None)
    page = next((tmp_path / "site" / "s").glob("*/SpaceTools-Synth-RelativeDepth-v0_test_0.html")).read_text()
    assert "differs from the record" not in page
    assert page.count('class="tool-name">roborefer.detect_one<') == 1
    assert page.count('class="tool-name">invalid_action<') == 1  # the unknown tool's failed call, shown as such


def test_malformed_tool_records_are_rejected_and_the_site_still_builds(runs, tmp_path):
    bad = Path(shutil.copytree(runs["tools"], tmp_path / "bad"))
    records = [json.loads(line) for line in (bad / "results.jsonl").read_text().splitlines()]
    with_calls = next(r for r in records if r["trajectory"]["tool_calls"] and r["trajectory"]["tool_calls"][0])
    with_calls["trajectory"]["tool_calls"][0][0] = 5
    records[-1]["tools"]["by_tool"] = {"x": {"calls": "1e3"}}
    (bad / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    summary = build_site([runs["blind"], bad], tmp_path / "site", trajectories=1, log=lambda m: None)
    assert (summary.accepted, summary.rejected) == (1, 1)
    index = (tmp_path / "site" / "index.html").read_text()
    assert "must hold one object per call" in index and "tools.by_tool must map tool names" in index


def test_submissions_inside_the_site_folder_are_refused_before_anything_is_deleted(runs, tmp_path):
    out = tmp_path / "site"
    build_site([], out, log=lambda m: None)
    inside = Path(shutil.copytree(runs["blind"], out / "subs" / "blind"))
    with pytest.raises(SiteError, match="inside the site folder"):
        build_site([inside], out, log=lambda m: None)
    assert (inside / "results.jsonl").is_file()


def test_runs_with_other_make_options_are_ranked_apart(tmp_path):
    one = "SpaceTools-Synth-Relation2D-v0"
    easy = _submission(tmp_path, "easy", "blind-guess", "Easy scenes", one, episodes=1, difficulty="easy")
    hard = _submission(tmp_path, "hard", "blind-guess", "Hard scenes", one, episodes=1, difficulty="hard")
    build_site([easy, hard], tmp_path / "site", trajectories=0, log=lambda m: None)
    index = (tmp_path / "site" / "index.html").read_text()
    assert index.count('<table class="ranking sortable">') == 2
    assert '&quot;difficulty&quot;: &quot;easy&quot;' in index and '&quot;difficulty&quot;: &quot;hard&quot;' in index


def test_a_benchmark_without_a_headline_counts_as_zero_in_the_mean():
    summary = {"benchmarks": {"A": {"metrics_pct": {"pose IoU x100": 90.0}}, "B": {"metrics_pct": {}}}}
    assert standing(summary).mean == 45.0  # B: every item skipped by its scorer -> 0, not dropped
    assert standing({"benchmarks": {"A": {"metrics_pct": {"x": 90.0}}}}, ["A", "B"]).mean == 45.0


def test_a_huge_answer_is_drawn_in_linear_time():
    started = time.perf_counter()
    assert answer_shapes("(" + "1" * 1_000_000, "robospatial") == []
    assert time.perf_counter() - started < 1.0
