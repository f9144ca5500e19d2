"""``spacetools data download bop-<dataset>``: archives fetched, then extracted safely into the loader's layout.

The network call (``huggingface_hub.snapshot_download``) is replaced by a stand-in that copies
zip files this test builds from the BOP fixture; everything after it is the real code path.
"""

from __future__ import annotations

import fnmatch
import json
import os
import shutil
import sys
import types
import zipfile
from pathlib import Path

import gymnasium as gym
import pytest
from fixtures_bop import ITEM0_CORNERS, build_bop

from benchmarks.cli import main
from benchmarks.data import MARKER_DIR, UnsafeArchiveError, download, extract_archive, extract_archives
from spacetools_env.loaders import ENV_VAR
from spacetools_env.loaders.bop_release import BOP_ARCHIVES, bop_dataset
from spacetools_env.loaders.datasets import DATASETS, get_dataset

ENV_ID = "SpaceTools-BOPScenes-Pose-v0"


@pytest.fixture(autouse=True)
def _no_outside_data(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.delenv("HF_HOME", raising=False)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-cache"))


def _zip_folder(archive: Path, folder: Path, prefix: str = "", *, only: tuple[str, ...] = ()) -> None:
    """Zip ``folder``'s files (those under the ``only`` subfolders, if given), member names prefixed by ``prefix``."""
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        if prefix:
            zf.writestr(prefix, "")  # the top-level folder entry, as `zip -r` writes it
        for path in sorted(folder.rglob("*")):
            relative = path.relative_to(folder).as_posix()
            if path.is_file() and (not only or relative.split("/")[0] in only):
                zf.write(path, prefix + relative)


def bop_archives(out: Path, dataset: str = "ycbv") -> Path:
    """The fixture as the hub ships a BOP set: base (holding ``<ds>/``), models and test archives."""
    source = build_bop(out / "src", dataset=dataset)
    (source / "dataset_info.md").write_text(f"# {dataset} (test fixture)\n")
    hub = out / "hub"
    hub.mkdir()
    base, models, test = BOP_ARCHIVES.get(dataset, (f"{dataset}_base.zip", f"{dataset}_models.zip",
                                                    f"{dataset}_test_bop19.zip"))
    with zipfile.ZipFile(hub / base, "w") as zf:
        zf.writestr(f"{dataset}/", "")
        zf.write(source / "dataset_info.md", f"{dataset}/dataset_info.md")
    _zip_folder(hub / models, source, only=("models",))
    _zip_folder(hub / test, source, only=("test", "val"))
    (hub / f"{dataset}_train_pbr.zip").write_bytes(b"not fetched: not in the archive list")
    return hub


def fake_hub(monkeypatch: pytest.MonkeyPatch, hub: Path, calls: list[dict]) -> None:
    """Stand in for huggingface_hub: snapshot_download copies the matching files of ``hub``."""

    def snapshot_download(*, repo_id: str, repo_type: str, local_dir: str | None, allow_patterns=None) -> str:
        calls.append({"repo_id": repo_id, "repo_type": repo_type, "local_dir": local_dir,
                      "allow_patterns": allow_patterns})
        if local_dir is None:  # the HF cache layout the loaders search
            cache = Path(os.environ["HF_HUB_CACHE"]) / ("datasets--" + repo_id.replace("/", "--"))
            local_dir = str(cache / "snapshots" / "0123abcd")
        target = Path(local_dir)
        target.mkdir(parents=True, exist_ok=True)
        for path in hub.iterdir():
            if allow_patterns is None or any(fnmatch.fnmatch(path.name, p) for p in allow_patterns):
                shutil.copy2(path, target / path.name)
        return str(target)

    monkeypatch.setitem(sys.modules, "huggingface_hub", types.SimpleNamespace(snapshot_download=snapshot_download))


def test_bop_datasets_are_listed_with_their_archives():
    assert {"bop-ycbv", "bop-lmo", "bop-tless", "bop-hope", "bop-handal"} <= set(DATASETS)
    ycbv = get_dataset("bop-ycbv")
    assert ycbv.repo_id == "bop-benchmark/ycbv" and ycbv.folder == "ycbv"
    assert ycbv.archives == ("ycbv_base.zip", "ycbv_models.zip", "ycbv_test_bop19.zip")
    assert get_dataset("bop-icbin").archives == ("icbin_base.zip", "icbin_models.zip", "icbin_test_bop19.zip")
    assert get_dataset("spacetools-eval").archives == (), "hub releases of plain files are fetched whole"
    with pytest.raises(ValueError, match=r"unknown dataset 'bop-\.\./x'"):
        get_dataset("bop-../x")


def test_download_fetches_only_the_archives_and_extracts_the_loader_layout(monkeypatch, tmp_path):
    calls: list[dict] = []
    fake_hub(monkeypatch, bop_archives(tmp_path), calls)
    data_dir = tmp_path / "data"
    folder = download("bop-ycbv", str(data_dir))
    assert folder == data_dir / "ycbv"
    assert calls == [{"repo_id": "bop-benchmark/ycbv", "repo_type": "dataset", "local_dir": str(folder),
                      "allow_patterns": ["ycbv_base.zip", "ycbv_models.zip", "ycbv_test_bop19.zip"]}]
    assert (folder / "dataset_info.md").is_file(), "the base archive's ycbv/ level is dropped"
    assert (folder / "models" / "models_info.json").is_file() and (folder / "test" / "000001" / "rgb").is_dir()
    assert not (folder / "ycbv").exists() and not (folder / "ycbv_train_pbr.zip").exists()
    env = gym.make(ENV_ID, data_dir=str(data_dir))
    env.reset(options={"index": 0})
    assert env.unwrapped.item.ground_truth == ITEM0_CORNERS
    assert env.unwrapped.source.num_items("test") == 3 and env.unwrapped.source.num_items("val") == 1


def test_download_again_skips_archives_already_extracted(monkeypatch, tmp_path):
    hub = bop_archives(tmp_path)
    fake_hub(monkeypatch, hub, [])
    folder = download("bop-ycbv", str(tmp_path / "data"))
    dataset = get_dataset("bop-ycbv")
    info = folder / "models" / "models_info.json"
    info.write_text(info.read_text())  # a user's edit survives a re-run
    mtime = info.stat().st_mtime_ns
    assert extract_archives(folder, dataset) == []
    assert download("bop-ycbv", str(tmp_path / "data")) == folder and info.stat().st_mtime_ns == mtime
    marker = json.loads((folder / MARKER_DIR / "ycbv_models.zip.json").read_text())
    assert marker["archive"] == "ycbv_models.zip" and marker["size"] == (hub / "ycbv_models.zip").stat().st_size
    with zipfile.ZipFile(folder / "ycbv_models.zip", "a") as zf:  # a new revision of one archive
        zf.writestr("models/readme.txt", "new")
    assert extract_archives(folder, dataset) == ["ycbv_models.zip"] and (folder / "models" / "readme.txt").is_file()


def test_cli_downloads_a_bop_set_and_gym_make_reads_it_with_source_options(monkeypatch, tmp_path, capsys):
    fake_hub(monkeypatch, bop_archives(tmp_path, dataset="lmo"), [])
    data_dir = tmp_path / "data"
    assert main(["data", "download", "bop-lmo", "--data-dir", str(data_dir)]) == 0
    assert f"bop-lmo is in {data_dir / 'lmo'}" in capsys.readouterr().out
    env = gym.make(ENV_ID, data_dir=str(data_dir), source_options={"dataset": "lmo", "names": {"3": "ape"}})
    env.reset(options={"index": 0})
    assert env.unwrapped.item.meta["target"] == "leftmost ape" and env.unwrapped.item.ground_truth == ITEM0_CORNERS


def test_download_into_the_hf_cache_is_found_without_data_dir(monkeypatch, tmp_path):
    fake_hub(monkeypatch, bop_archives(tmp_path), [])
    folder = download("bop-ycbv")
    assert folder.parent.parent.name == "datasets--bop-benchmark--ycbv"
    env = gym.make(ENV_ID)
    env.reset(options={"index": 0})
    assert env.unwrapped.item.ground_truth == ITEM0_CORNERS


def test_an_archive_missing_from_the_repository_is_named(monkeypatch, tmp_path):
    hub = bop_archives(tmp_path)
    (hub / "ycbv_test_bop19.zip").unlink()
    fake_hub(monkeypatch, hub, [])
    with pytest.raises(RuntimeError) as caught:
        download("bop-ycbv", str(tmp_path / "data"))
    message = str(caught.value)
    assert "archive(s) ['ycbv_test_bop19.zip'] not in" in message and "ycbv_base.zip" in message
    assert "https://huggingface.co/datasets/bop-benchmark/ycbv/tree/main" in message and "BOP_ARCHIVES" in message


# ---------------------------------------------------------------------------- unsafe archives
@pytest.mark.parametrize(("member", "why"), [
    ("../escaped.txt", "is a path climbing out with '..'"),
    ("models/../../escaped.txt", "is a path climbing out with '..'"),
    ("/tmp/escaped.txt", "is an absolute path"),
    ("C:/escaped.txt", "is an absolute path"),
])
def test_zip_slip_members_are_refused_and_nothing_is_written(tmp_path, member, why):
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("models/models_info.json", "{}")
        zf.writestr(member, "pwned")
    target = tmp_path / "data" / "ycbv"
    with pytest.raises(UnsafeArchiveError) as caught:
        extract_archive(archive, target, strip="ycbv")
    assert str(caught.value) == (
        f"{archive}: member {member!r} {why}; refusing to extract this archive (nothing was written). "
        "Download it again from the hub, or extract it by hand after checking it."
    )
    assert not (target / "models").exists() and not (tmp_path / "data" / "escaped.txt").exists()
    assert not (target / MARKER_DIR).exists()


def test_symlink_members_and_links_out_of_the_target_are_refused(tmp_path):
    archive = tmp_path / "link.zip"
    link = zipfile.ZipInfo("models/models_info.json")
    link.external_attr = 0o120777 << 16  # a symbolic link entry, as `zip --symlinks` writes it
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr(link, "/etc/passwd")
    target = tmp_path / "ycbv"
    with pytest.raises(UnsafeArchiveError, match=r"member 'models/models_info.json' is a symbolic link"):
        extract_archive(archive, target)
    outside = tmp_path / "outside"
    outside.mkdir()
    (target / "models").symlink_to(outside, target_is_directory=True)
    plain = tmp_path / "plain.zip"
    with zipfile.ZipFile(plain, "w") as zf:
        zf.writestr("models/models_info.json", "{}")
    with pytest.raises(UnsafeArchiveError, match=r"would be written to .*outside .*\(through a link already there\)"):
        extract_archive(plain, target)
    assert list(outside.iterdir()) == []


def test_a_corrupt_archive_says_to_download_again(tmp_path):
    archive = tmp_path / "ycbv_models.zip"
    archive.write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(RuntimeError, match=r"ycbv_models\.zip: not a readable zip file .*download again"):
        extract_archive(archive, tmp_path / "ycbv")


def test_bop_dataset_archives_are_data():
    assert bop_dataset("tless").archives[-1] == "tless_test_primesense_bop19.zip"
    assert all(a.endswith(".zip") and a.startswith(name + "_") for name, archives in BOP_ARCHIVES.items()
               for a in archives)
