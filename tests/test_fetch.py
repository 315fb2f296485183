"""`labkit fetch` download code, exercised on generated files over file:// URLs (no network)."""

import hashlib
import io
import pickle
import tarfile

import pytest
import torch

import labkit as lk
from labkit.fetch import FetchError, download, fetch_checkpoint, fetch_cifar10
from labkit.models import save_checkpoint


def _fake_cifar_archive(path):
    with tarfile.open(path, "w:gz") as tar:
        for name in ["data_batch_1", "test_batch", "batches.meta"]:
            blob = pickle.dumps({"labels": [0], "data": b"\0" * 3072})
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    return hashlib.md5(path.read_bytes()).hexdigest()


def test_cifar10_is_downloaded_verified_and_extracted(tmp_path):
    src = tmp_path / "src.tar.gz"
    md5 = _fake_cifar_archive(src)
    root = tmp_path / "cifar10"
    got = fetch_cifar10(root, url=src.as_uri(), md5=md5, verbose=False)
    assert got.downloaded and (root / "cifar-10-batches-py" / "test_batch").is_file()
    assert not fetch_cifar10(root, url=src.as_uri(), md5=md5, verbose=False).downloaded


def test_a_corrupt_download_leaves_nothing(tmp_path):
    src = tmp_path / "src.tar.gz"
    _fake_cifar_archive(src)
    root = tmp_path / "cifar10"
    with pytest.raises(FetchError, match="corrupt"):
        fetch_cifar10(root, url=src.as_uri(), md5="0" * 32, verbose=False)
    assert list(root.iterdir()) == []


def test_an_archive_copied_by_hand_is_extracted_without_download(tmp_path):
    root = tmp_path / "cifar10"
    root.mkdir()
    md5 = _fake_cifar_archive(root / "cifar-10-python.tar.gz")
    got = fetch_cifar10(root, url=(tmp_path / "nowhere").as_uri(), md5=md5, verbose=False)
    assert not got.downloaded and got.path.is_dir()


def test_offline_error_says_what_to_do(tmp_path):
    with pytest.raises(FetchError, match="offline.*tiny profile"):
        download((tmp_path / "missing.tar.gz").as_uri(), tmp_path / "out" / "x.tar.gz", verbose=False)
    assert not (tmp_path / "out" / "x.tar.gz").exists()


def test_checkpoint_is_verified_and_its_hash_recorded(tmp_path):
    src = save_checkpoint(lk.VGG(), tmp_path / "published.pth")
    dest = tmp_path / "data" / "vgg.cifar.pretrained.pth"
    got = fetch_checkpoint(dest, url=src.as_uri(), verbose=False)
    assert got.downloaded and dest.is_file()
    recorded = dest.with_name(dest.name + ".sha256").read_text().split()[0]
    assert recorded == hashlib.sha256(dest.read_bytes()).hexdigest()
    dest.write_bytes(dest.read_bytes()[:-1] + b"\1")  # tampered later: the recorded hash catches it
    with pytest.raises(FetchError, match="sha256"):
        fetch_checkpoint(dest, url=src.as_uri(), verbose=False)


def test_a_checkpoint_that_is_not_the_labs_vgg_is_refused(tmp_path):
    src = save_checkpoint(lk.VGG(0.125), tmp_path / "tiny.pth")
    dest = tmp_path / "vgg.pth"
    with pytest.raises(FetchError, match="9,228,362"):
        fetch_checkpoint(dest, url=src.as_uri(), verbose=False)
    assert not dest.exists() and not list(tmp_path.glob("vgg.pth*"))
    src.write_bytes(b"<html>503 Service Unavailable</html>")
    with pytest.raises(FetchError, match="does not verify"):
        fetch_checkpoint(dest, url=src.as_uri(), verbose=False)
