"""The full profile's files: downloads and verification over file:// URLs and local HTTP and
HTTPS servers (a self-signed certificate; 127.0.0.1 only; no network)."""

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
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch

import labkit as lk
from labkit import fetch
from labkit.fetch import (CertificateError, CorruptFileError, FetchError, NotDownloadedError,
                          NotPublishedError, download, ensure_full_profile, fetch_checkpoint,
                          fetch_cifar10, safe_extractall)
from labkit.models import save_checkpoint


def _fake_cifar_archive(path: Path) -> dict:
    """A small archive laid out as CIFAR-10's, and its pins (md5, sha256, size) to pass."""
    with tarfile.open(path, "w:gz") as tar:
        for name in ["data_batch_1", "test_batch", "batches.meta"]:
            blob = pickle.dumps({"labels": [0], "data": b"\0" * 3072})
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    data = path.read_bytes()
    return {"md5": hashlib.md5(data).hexdigest(), "sha256": hashlib.sha256(data).hexdigest(),
            "size": len(data)}


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
    pins = _fake_cifar_archive(src)
    root = tmp_path / "cifar10"
    got = fetch_cifar10(root, url=src.as_uri(), **pins, verbose=False)
    assert got.downloaded and (root / "cifar-10-batches-py" / "test_batch").is_file()
    assert not fetch_cifar10(root, url=src.as_uri(), **pins, verbose=False).downloaded


def test_a_corrupt_download_leaves_nothing(tmp_path):
    src = tmp_path / "src.tar.gz"
    pins = _fake_cifar_archive(src)
    root = tmp_path / "cifar10"
    with pytest.raises(CorruptFileError, match="corrupt"):
        fetch_cifar10(root, url=src.as_uri(), **{**pins, "md5": "0" * 32}, verbose=False)
    assert list(root.iterdir()) == []


def test_an_archive_copied_by_hand_is_extracted_without_download(tmp_path):
    root = tmp_path / "cifar10"
    root.mkdir()
    pins = _fake_cifar_archive(root / "cifar-10-python.tar.gz")
    got = fetch_cifar10(root, url=(tmp_path / "nowhere").as_uri(), **pins, verbose=False)
    assert not got.downloaded and got.path.is_dir()


def test_cifar10_is_pinned_by_sha256_and_size_as_well_as_md5():
    assert fetch.CIFAR10_SHA256 == "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"
    assert fetch.CIFAR10_SIZE == 170_498_071
    assert fetch.CIFAR10_MD5 == "c58f30108f718f92721af3b95e74349a"


@pytest.mark.parametrize("wrong", ["sha256", "size", "default pins"])
def test_an_archive_with_the_right_md5_but_another_sha256_or_size_is_refused(tmp_path, wrong):
    """By hand or downloaded: the md5 alone does not make the archive CIFAR-10's."""
    src = tmp_path / "src.tar.gz"
    pins = _fake_cifar_archive(src)
    if wrong == "default pins":  # the archive's own md5, the published CIFAR-10's sha256 and size
        pins = {"md5": pins["md5"]}
        expected = r"expected 170,498,071"
    elif wrong == "sha256":
        pins["sha256"] = "0" * 64
        expected = rf"sha256 {_sha256(src)}, expected 0{{64}}"
    else:
        pins["size"] += 1
        expected = rf"{pins['size'] - 1:,} bytes, expected {pins['size']:,}"
    by_hand = tmp_path / "by-hand"
    by_hand.mkdir()
    shutil.copy(src, by_hand / "cifar-10-python.tar.gz")
    with pytest.raises(CorruptFileError, match=r"not the CIFAR-10 archive \(.*" + expected):
        fetch_cifar10(by_hand, url=(tmp_path / "nowhere").as_uri(), **pins, verbose=False)
    assert not (by_hand / "cifar-10-batches-py").exists()
    downloaded = tmp_path / "downloaded"
    with pytest.raises(CorruptFileError, match=r"arrived corrupt \(.*" + expected):
        fetch_cifar10(downloaded, url=src.as_uri(), **pins, verbose=False)
    assert list(downloaded.iterdir()) == []


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


@contextmanager
def _serve(www: Path, context: ssl.SSLContext | None = None) -> Iterator[str]:
    """Serve ``www`` on 127.0.0.1 (over TLS with ``context``); yield the base URL."""
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:  # keep stderr for what labkit says
            pass

    handler = lambda *a, **k: Quiet(*a, directory=str(www), **k)  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.timeout = 5
    if context is not None:
        server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        yield f"{'https' if context else 'http'}://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def https_server(tmp_path: Path):
    """An HTTPS server on 127.0.0.1 serving ``tmp_path/www`` with a self-signed certificate."""
    www = tmp_path / "www"
    www.mkdir()
    cert, key = _self_signed(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    with _serve(www, context) as base:
        yield base, www, cert


@pytest.fixture
def http_server(tmp_path: Path):
    """A plain HTTP server on 127.0.0.1 serving ``tmp_path/web`` (a missing file is HTTP 404)."""
    web = tmp_path / "web"
    web.mkdir()
    with _serve(web) as base:
        yield base, web


@pytest.fixture
def contexts(monkeypatch: pytest.MonkeyPatch) -> list[ssl.SSLContext | None]:
    """The TLS context each ``urlopen`` call was given (None: the default, verifying one)."""
    seen: list[ssl.SSLContext | None] = []
    real = urllib.request.urlopen

    def urlopen(url, *args, **kwargs):
        seen.append(kwargs.get("context"))
        return real(url, *args, **kwargs)

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    return seen


def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def test_without_a_pin_a_certificate_failure_is_not_retried(https_server, tmp_path, count_downloads,
                                                           capsys):
    base, www, cert = https_server
    (www / "vgg.cifar.pretrained.pth").write_bytes(b"weights")
    dest = tmp_path / "data" / "vgg.cifar.pretrained.pth"
    with pytest.raises(CertificateError, match="could not verify the certificate") as err:
        download(f"{base}/vgg.cifar.pretrained.pth", dest, verbose=False)
    assert "offline" not in str(err.value) and "certifi" in str(err.value)
    assert not dest.exists() and not list(dest.parent.glob("*.part"))
    assert len(count_downloads) == 1  # no pin: no retry without verification
    assert "without TLS verification" not in capsys.readouterr().err
    # CIFAR-10 pinned by md5 only is not pinned by a hash that protects it: no retry either
    pins = _fake_cifar_archive(www / "cifar-10-python.tar.gz")
    with pytest.raises(CertificateError):
        fetch_cifar10(tmp_path / "cifar10", url=f"{base}/cifar-10-python.tar.gz", md5=pins["md5"],
                      sha256=None, size=None, verbose=False)
    assert len(count_downloads) == 2 and not (tmp_path / "cifar10" / "cifar-10-python.tar.gz").exists()
    # the same server, trusted: the download itself works (the failure was the certificate)
    context = ssl.create_default_context(cafile=str(cert))
    with urllib.request.urlopen(f"{base}/vgg.cifar.pretrained.pth", timeout=5, context=context) as r:
        assert r.read() == b"weights"


def test_a_pinned_file_is_downloaded_without_tls_verification_and_says_so(https_server, tmp_path, published,
                                                                          contexts, capsys):
    base, www, _ = https_server
    src, sha = published
    shutil.copy(src, www / "vgg.cifar.pretrained.pth")
    url = f"{base}/vgg.cifar.pretrained.pth"
    dest = tmp_path / "data" / "vgg.cifar.pretrained.pth"
    got = fetch_checkpoint(dest, url=url, sha256=sha, verbose=False)
    assert got.downloaded and dest.read_bytes() == src.read_bytes()
    assert _lines(capsys.readouterr().err) == [
        f"could not verify the certificate of {url}; downloading without TLS verification, the file "
        "is checked against its pinned sha256"]
    assert len(contexts) == 2 and contexts[0] is None and contexts[1].verify_mode == ssl.CERT_NONE
    # only that request went unverified: the next one verifies again
    with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
        urllib.request.urlopen(url, timeout=5)
    # CIFAR-10, pinned by sha256 and size: the same
    pins = _fake_cifar_archive(www / "cifar-10-python.tar.gz")
    got = fetch_cifar10(tmp_path / "cifar10", url=f"{base}/cifar-10-python.tar.gz", **pins, verbose=False)
    assert got.downloaded and (got.path / "test_batch").is_file()
    assert len(_lines(capsys.readouterr().err)) == 1


def test_a_pinned_file_with_other_bytes_over_unverified_tls_is_refused(https_server, tmp_path, published,
                                                                       capsys):
    base, www, _ = https_server
    _, sha = published
    (www / "vgg.cifar.pretrained.pth").write_bytes(b"<html>a captive portal</html>")
    dest = tmp_path / "data" / "vgg.cifar.pretrained.pth"
    with pytest.raises(CorruptFileError, match="arrived corrupt.*deleted"):
        fetch_checkpoint(dest, url=f"{base}/vgg.cifar.pretrained.pth", sha256=sha, verbose=False)
    assert "without TLS verification" in capsys.readouterr().err
    assert list(dest.parent.iterdir()) == []  # nothing that looks complete, no partial file
    torch.manual_seed(3)  # a readable checkpoint, but not the pinned one: refused as well
    save_checkpoint(lk.VGG(0.125), www / "vgg.cifar.pretrained.pth")
    with pytest.raises(NotPublishedError, match="not the published checkpoint"):
        fetch_checkpoint(dest, url=f"{base}/vgg.cifar.pretrained.pth", sha256=sha, verbose=False)
    assert list(dest.parent.iterdir()) == []
    pins = _fake_cifar_archive(www / "cifar-10-python.tar.gz")
    archive = tmp_path / "cifar10" / "cifar-10-python.tar.gz"
    with pytest.raises(CorruptFileError, match="arrived corrupt.*sha256"):
        download(f"{base}/cifar-10-python.tar.gz", archive, sha256="0" * 64, size=pins["size"],
                 verbose=False)
    assert list(archive.parent.iterdir()) == []


# --- the checkpoint's URLs: the published one, then the course's mirror ---------------------

def test_the_checkpoint_urls_are_the_published_one_then_the_mirror():
    assert fetch.CHECKPOINT_URL == "https://hanlab18.mit.edu/files/course/labs/vgg.cifar.pretrained.pth"
    assert fetch.CHECKPOINT_URLS == (
        fetch.CHECKPOINT_URL, "https://file.hanlab.ai/courses/6s965/labs/assets/vgg.cifar.pretrained.pth")


@pytest.mark.parametrize("failure", ["HTTP 404", "connection refused", "an HTML page"])
def test_when_the_published_url_fails_the_mirror_is_used(http_server, tmp_path, published, count_downloads,
                                                         failure):
    base, web = http_server
    src, sha = published
    (web / "mirror").mkdir()
    shutil.copy(src, web / "mirror" / "vgg.cifar.pretrained.pth")
    (web / "moved.html").write_bytes(b"<html>this file moved</html>")
    first = {"HTTP 404": f"{base}/gone/vgg.cifar.pretrained.pth",
             "connection refused": f"http://127.0.0.1:{_free_port()}/vgg.cifar.pretrained.pth",
             "an HTML page": f"{base}/moved.html"}[failure]
    mirror = f"{base}/mirror/vgg.cifar.pretrained.pth"
    dest = tmp_path / "data" / "vgg.cifar.pretrained.pth"
    got = fetch_checkpoint(dest, url=[first, mirror], sha256=sha, verbose=False)
    assert got.downloaded and dest.read_bytes() == src.read_bytes()
    assert count_downloads == [first, mirror]
    assert sorted(p.name for p in dest.parent.iterdir()) == [dest.name]


def test_when_every_url_fails_the_error_names_each_and_what_to_do(tmp_path, monkeypatch):
    """The published URL (as `labkit fetch` passes it) stands for it and its mirror."""
    opened: list[str] = []

    def urlopen(url, *args, **kwargs):
        opened.append(url)
        if url == fetch.CHECKPOINT_URL:
            raise urllib.error.HTTPError(url, 404, "Not Found", {}, None)
        raise urllib.error.URLError(ConnectionRefusedError(111, "Connection refused"))

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    dest = tmp_path / "data" / "vgg.cifar.pretrained.pth"
    for url in (fetch.CHECKPOINT_URLS, fetch.CHECKPOINT_URL):
        opened.clear()
        with pytest.raises(NotDownloadedError) as err:
            fetch_checkpoint(dest, url=url, verbose=False)
        assert opened == list(fetch.CHECKPOINT_URLS)
        message = str(err.value)
        assert f"{fetch.CHECKPOINT_URL}: not downloaded (HTTP 404 Not Found)" in message
        assert f"{fetch.CHECKPOINT_MIRROR_URL}: not downloaded (" in message
        assert "Connection refused" in message
        assert f"copy it to {dest}" in message and "tiny profile" in message
        assert not dest.parent.exists() or list(dest.parent.iterdir()) == []


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
    pins = _fake_cifar_archive(archive)
    monkeypatch.setattr(fetch, "CIFAR10_URL", archive.as_uri())
    monkeypatch.setattr(fetch, "CIFAR10_MD5", pins["md5"])
    monkeypatch.setattr(fetch, "CIFAR10_SHA256", pins["sha256"])
    monkeypatch.setattr(fetch, "CIFAR10_SIZE", pins["size"])
    monkeypatch.setattr(fetch, "CHECKPOINT_URL", src.as_uri())
    monkeypatch.setattr(fetch, "CHECKPOINT_URLS", (src.as_uri(),))
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
    from labkit_course.cli import main as cli_main

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
