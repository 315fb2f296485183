"""The full profile's files: downloads and verification over file:// URLs and a local HTTPS
server with a self-signed certificate (127.0.0.1 only; no network)."""

from __future__ import annotations

import hashlib
import http.server
import io
import pickle
import shutil
import socket
import ssl
import subprocess
import tarfile
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import torch

import labkit as lk
from labkit import fetch
from labkit.fetch import (CertificateError, CorruptFileError, FetchError, NotDownloadedError,
                          NotPublishedError, download, ensure_full_profile, fetch_checkpoint,
                          fetch_cifar10, safe_extractall)
from labkit.models import save_checkpoint


def _fake_cifar_archive(path: Path) -> str:
    with tarfile.open(path, "w:gz") as tar:
        for name in ["data_batch_1", "test_batch", "batches.meta"]:
            blob = pickle.dumps({"labels": [0], "data": b"\0" * 3072})
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    return hashlib.md5(path.read_bytes()).hexdigest()


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def published(tmp_path: Path) -> tuple[Path, str]:
    """A stand-in for the published file (a small VGG) and its sha256, to pin in tests."""
    torch.manual_seed(0)
    src = save_checkpoint(lk.VGG(0.125), tmp_path / "src" / "published.pth")
    return src, _sha256(src)


@pytest.fixture
def count_downloads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every URL opened (to prove that a failure is not followed by another download)."""
    opened: list[str] = []
    real = urllib.request.urlopen

    def urlopen(url, *args, **kwargs):
        opened.append(str(url))
        return real(url, *args, **kwargs)

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    return opened


# --- CIFAR-10 -----------------------------------------------------------------------------

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
    with pytest.raises(CorruptFileError, match="corrupt"):
        fetch_cifar10(root, url=src.as_uri(), md5="0" * 32, verbose=False)
    assert list(root.iterdir()) == []


def test_an_archive_copied_by_hand_is_extracted_without_download(tmp_path):
    root = tmp_path / "cifar10"
    root.mkdir()
    md5 = _fake_cifar_archive(root / "cifar-10-python.tar.gz")
    got = fetch_cifar10(root, url=(tmp_path / "nowhere").as_uri(), md5=md5, verbose=False)
    assert not got.downloaded and got.path.is_dir()


@pytest.mark.parametrize("data_filter", [True, False], ids=["filter-data", "python<3.11.4"])
def test_extraction_refuses_paths_outside_the_folder(tmp_path, monkeypatch, data_filter):
    """tarfile's filter="data" needs Python >= 3.11.4; older Pythons get the same rules."""
    if not data_filter:
        monkeypatch.delattr(tarfile, "data_filter")
    good = tmp_path / "good.tar"
    _fake_cifar_archive(good)
    with tarfile.open(good) as tar:
        safe_extractall(tar, tmp_path / "out")
    assert (tmp_path / "out" / "cifar-10-batches-py" / "data_batch_1").is_file()
    evil = tmp_path / "evil.tar"
    with tarfile.open(evil, "w") as tar:
        info = tarfile.TarInfo("../escaped")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    with tarfile.open(evil) as tar, pytest.raises(CorruptFileError, match="refusing"):
        safe_extractall(tar, tmp_path / "out2")
    assert not (tmp_path / "escaped").exists()


# --- download failures: not downloaded / certificate --------------------------------------

def test_not_downloaded_says_what_to_do(tmp_path):
    with pytest.raises(NotDownloadedError, match="not downloaded.*offline.*tiny profile") as err:
        download((tmp_path / "missing.tar.gz").as_uri(), tmp_path / "out" / "x.tar.gz", verbose=False)
    assert not isinstance(err.value, CertificateError)
    assert not (tmp_path / "out" / "x.tar.gz").exists()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_refused_connection_is_not_downloaded(tmp_path):
    url = f"http://127.0.0.1:{_free_port()}/vgg.cifar.pretrained.pth"  # nothing listens there
    with pytest.raises(NotDownloadedError, match="not downloaded") as err:
        download(url, tmp_path / "x.pth", timeout=5, verbose=False)
    assert not isinstance(err.value, CertificateError)


def _self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 signed by itself (cryptography if installed, else openssl)."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    try:
        import datetime

        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID
    except ImportError:
        if shutil.which("openssl") is None:
            pytest.skip("neither the cryptography package nor the openssl command is available")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                        "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1",
                        "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                       check=True, capture_output=True, timeout=30)
        return cert, key
    import ipaddress

    private = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                   .public_key(private.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
                   .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                                  critical=False)
                   .sign(private, hashes.SHA256()))
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key.write_bytes(private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    return cert, key


@pytest.fixture
def https_server(tmp_path: Path):
    """An HTTPS server on 127.0.0.1 serving ``tmp_path/www`` with a self-signed certificate."""
    www = tmp_path / "www"
    www.mkdir()
    cert, key = _self_signed(tmp_path)
    handler = lambda *a, **k: http.server.SimpleHTTPRequestHandler(*a, directory=str(www), **k)  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.timeout = 5
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}", www, cert
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_a_certificate_that_cannot_be_verified_is_named(https_server, tmp_path, count_downloads):
    base, www, cert = https_server
    (www / "vgg.cifar.pretrained.pth").write_bytes(b"weights")
    dest = tmp_path / "data" / "vgg.cifar.pretrained.pth"
    with pytest.raises(CertificateError, match="could not verify the certificate") as err:
        fetch_checkpoint(dest, url=f"{base}/vgg.cifar.pretrained.pth", verbose=False)
    assert "offline" not in str(err.value) and "certifi" in str(err.value)
    assert not dest.exists() and not list(dest.parent.glob("*.part"))
    assert len(count_downloads) == 1  # one attempt, no retry loop
    # the same server, trusted: the download itself works (the failure was the certificate)
    context = ssl.create_default_context(cafile=str(cert))
    with urllib.request.urlopen(f"{base}/vgg.cifar.pretrained.pth", timeout=5, context=context) as r:
        assert r.read() == b"weights"


# --- the checkpoint: published, corrupt, not published ------------------------------------

def test_the_published_checkpoint_is_downloaded_and_verified(tmp_path, published):
    src, sha = published
    dest = tmp_path / "data" / "vgg.cifar.pretrained.pth"
    got = fetch_checkpoint(dest, url=src.as_uri(), sha256=sha, verbose=False)
    assert got.downloaded and dest.read_bytes() == src.read_bytes()
    assert not fetch_checkpoint(dest, url=src.as_uri(), sha256=sha, verbose=False).downloaded


def test_the_pin_is_the_published_files(tmp_path, published):
    """Without a course pin, the file must have the published sha256 and size."""
    assert fetch.PUBLISHED_SHA256 == "6b4aff21d828395aded52a8f2d3144ceda75d645eb9f57ea38e025ca28ded21a"
    assert fetch.PUBLISHED_SIZE == 36_951_439
    src, _ = published
    with pytest.raises(NotPublishedError, match=r"36,951,439 bytes") as err:
        fetch_checkpoint(tmp_path / "vgg.pth", url=src.as_uri(), verbose=False)
    assert "6b4aff21d828" in str(err.value) and "--checkpoint-sha256" in str(err.value)
    assert not list(tmp_path.glob("vgg.pth*"))  # the download was deleted


def test_a_file_there_that_is_not_published_is_kept_and_explained(tmp_path, published, count_downloads):
    src, sha = published
    dest = tmp_path / "vgg.cifar.pretrained.pth"
    torch.manual_seed(1)
    save_checkpoint(lk.VGG(0.125), dest)  # e.g. trained by an older labkit under this name
    for _ in range(2):  # asking again gives the same answer: nothing deleted, nothing downloaded
        with pytest.raises(NotPublishedError, match="not the published file") as err:
            fetch_checkpoint(dest, url=src.as_uri(), sha256=sha, verbose=False)
        assert "vgg.cifar.selftrained.pth" in str(err.value)
    assert dest.is_file() and count_downloads == []


def test_a_truncated_file_there_is_called_corrupt(tmp_path, published, count_downloads):
    src, sha = published
    dest = tmp_path / "vgg.cifar.pretrained.pth"
    dest.write_bytes(src.read_bytes()[: src.stat().st_size // 2])
    with pytest.raises(CorruptFileError, match="corrupt.*Delete it and run `labkit fetch` again"):
        fetch_checkpoint(dest, url=src.as_uri(), sha256=sha, verbose=False)
    assert count_downloads == []
    dest.write_bytes(b"\0" * 1000)  # and with the published pin: reported as truncated
    with pytest.raises(CorruptFileError, match=r"1,000 of 36,951,439 bytes: truncated"):
        fetch_checkpoint(dest, url=src.as_uri(), verbose=False)


def test_a_corrupt_or_foreign_download_is_deleted_and_named(tmp_path, published):
    src, sha = published
    dest = tmp_path / "vgg.pth"
    page = tmp_path / "error.html"
    page.write_bytes(b"<html>503 Service Unavailable</html>")
    with pytest.raises(CorruptFileError, match="arrived corrupt"):
        fetch_checkpoint(dest, url=page.as_uri(), sha256=sha, verbose=False)
    other = save_checkpoint(lk.VGG(0.25), tmp_path / "other.pth")
    with pytest.raises(NotPublishedError, match="is not the published checkpoint.*a VGG with"):
        fetch_checkpoint(dest, url=other.as_uri(), sha256=sha, verbose=False)
    assert not list(tmp_path.glob("vgg.pth*"))


def test_the_four_failures_are_distinct_kinds() -> None:
    kinds = [NotDownloadedError, CertificateError, CorruptFileError, NotPublishedError]
    assert all(issubclass(k, FetchError) for k in kinds)
    assert not issubclass(CorruptFileError, NotPublishedError) and not issubclass(NotPublishedError, CorruptFileError)


# --- ensure_full_profile / choose_profile -------------------------------------------------

@pytest.fixture
def sources(tmp_path: Path, published, monkeypatch: pytest.MonkeyPatch) -> None:
    """The full profile's downloads served from file:// (a fake CIFAR archive, a pinned VGG)."""
    src, sha = published
    archive = tmp_path / "src" / "cifar-10-python.tar.gz"
    monkeypatch.setattr(fetch, "CIFAR10_URL", archive.as_uri())
    monkeypatch.setattr(fetch, "CIFAR10_MD5", _fake_cifar_archive(archive))
    monkeypatch.setattr(fetch, "CHECKPOINT_URL", src.as_uri())
    monkeypatch.setenv(fetch.SHA256_ENV, sha)


def test_ensure_full_profile_downloads_both_and_reports(data_env, sources, capsys):
    profile = lk.profiles._full("test")
    missing = ensure_full_profile(profile, download=False, verbose=False)
    assert missing.kind == "missing" and missing.data is None and missing.checkpoint is None
    got = ensure_full_profile(profile, download=True, verbose=True)
    assert got.kind == "published" and got.checkpoint == profile.published_checkpoint
    assert (got.data / "test_batch").is_file()
    out = capsys.readouterr().out
    assert "CIFAR-10: downloaded" in out and "sha256 verified" in out


def test_a_self_trained_checkpoint_is_used_and_reported_as_such(data_env, sources):
    profile = lk.profiles._full("")
    save_checkpoint(lk.VGG(0.125), profile.trained_checkpoint)
    profile = lk.profiles._full("")
    assert profile.checkpoint == profile.trained_checkpoint != profile.published_checkpoint
    assert profile.checkpoint.name == "vgg.cifar.selftrained.pth" and profile.checkpoint_kind == "self-trained"
    assert "self-trained" in profile.describe() and "not the published one" in profile.describe()
    got = ensure_full_profile(profile, download=True, verbose=False)
    assert got.kind == "self-trained" and not profile.published_checkpoint.exists()


def test_an_unverified_file_at_the_published_name_is_used_with_a_warning(data_env, sources):
    profile = lk.profiles._full("")
    torch.manual_seed(5)
    save_checkpoint(lk.VGG(0.125), profile.published_checkpoint)
    with pytest.warns(RuntimeWarning, match="not the published file.*vgg.cifar.selftrained.pth"):
        got = ensure_full_profile(profile, download=False, verbose=False)
    assert got.kind == "unverified"


def test_on_a_gpu_setup_fetches_the_full_profile(data_env, sources, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    chosen = fetch.choose_profile(verbose=False)
    assert chosen.name == "full" and "fetched" in chosen.reason
    assert chosen.checkpoint.is_file() and (chosen.data_root / "cifar-10-batches-py").is_dir()


def test_on_a_gpu_offline_setup_says_why_it_chose_tiny(data_env, monkeypatch, count_downloads):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(fetch, "CIFAR10_URL", (data_env / "offline" / "x.tar.gz").as_uri())
    chosen = fetch.choose_profile(verbose=False)
    assert chosen.name == "tiny"
    assert "a GPU is present" in chosen.reason and "NotDownloadedError" in chosen.reason
    assert "labkit fetch" in chosen.reason and len(count_downloads) == 1


def test_without_a_gpu_nothing_is_downloaded(data_env, count_downloads):
    chosen = fetch.choose_profile(verbose=False)
    assert chosen.name == "tiny" and count_downloads == []


def test_the_fetch_verb_targets_the_published_name_even_with_a_self_trained_model(data_env, sources, capsys):
    from labkit.cli import main as cli_main

    profile = lk.profiles._full("")
    save_checkpoint(lk.VGG(0.125), profile.trained_checkpoint)
    assert cli_main(["fetch", "--what", "checkpoint"]) == 0
    assert "sha256 verified" in capsys.readouterr().out
    assert profile.published_checkpoint.is_file() and profile.trained_checkpoint.is_file()


def test_a_file_with_refused_objects_is_not_published_rather_than_corrupt(tmp_path, published):
    import argparse

    _, sha = published
    dest = tmp_path / "vgg.cifar.pretrained.pth"
    torch.save({"state_dict": lk.VGG(0.125).state_dict(), "args": argparse.Namespace(lr=0.1)}, dest)
    with pytest.raises(NotPublishedError, match="argparse.Namespace"):
        fetch_checkpoint(dest, sha256=sha, verbose=False)
