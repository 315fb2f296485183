"""``labkit fetch``: download the full profile's CIFAR-10 and the published VGG checkpoint.

Downloads go to a ``.part`` file and are renamed only after their checksum (CIFAR-10: the md5
published with the dataset, the one torchvision checks) or structure (checkpoint: a
loadable lab VGG with 9,228,362 parameters) is verified, so an interrupted or corrupt download
never leaves a file that looks complete. No checksum of the checkpoint is published; its
sha256 is recorded next to it on the first fetch (``.sha256``) and checked on later fetches, and
a course can pin one with ``--checkpoint-sha256``.
"""

from __future__ import annotations

import hashlib
import shutil
import tarfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm


__all__ = ["CIFAR10_URL", "CIFAR10_MD5", "CHECKPOINT_URL", "FetchError", "download", "fetch_cifar10", "fetch_checkpoint"]

CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_MD5 = "c58f30108f718f92721af3b95e74349a"
CHECKPOINT_URL = "https://hanlab18.mit.edu/files/course/labs/vgg.cifar.pretrained.pth"
FULL_VGG_PARAMETERS = 9_228_362


class FetchError(RuntimeError):
    """A download failed or its file did not verify; the message says what to do."""


@dataclass(frozen=True)
class Fetched:
    path: Path
    downloaded: bool  # False when a verified file was already there


def _digest(path: Path, algorithm: str) -> str:
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def download(url: str, dest: Path, *, md5: str | None = None, timeout: float = 30.0,
             verbose: bool = True) -> Path:
    """Download ``url`` to ``dest`` atomically, checking ``md5`` when given.

    Raises:
        FetchError: offline/unreachable, HTTP error, or checksum mismatch (nothing is left at ``dest``).
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(part, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=dest.name, leave=False,
                      disable=not verbose) as bar:
                for block in iter(lambda: response.read(1 << 20), b""):
                    out.write(block)
                    bar.update(len(block))
    except (urllib.error.URLError, OSError, TimeoutError) as e:
        part.unlink(missing_ok=True)
        raise FetchError(
            f"could not download {url} ({e}). If this machine is offline, download it elsewhere "
            f"and copy it to {dest}, or use the tiny profile (LABKIT_PROFILE=tiny), which needs "
            "no download."
        ) from e
    if md5 is not None and (got := _digest(part, "md5")) != md5:
        part.unlink(missing_ok=True)
        raise FetchError(f"{url} arrived corrupt (md5 {got}, expected {md5}); run `labkit fetch` again")
    part.replace(dest)
    return dest


def fetch_cifar10(root: Path, *, url: str = CIFAR10_URL, md5: str = CIFAR10_MD5,
                  verbose: bool = True) -> Fetched:
    """Make sure ``root/cifar-10-batches-py`` exists: download and extract the archive if not.

    An archive already in ``root`` (copied there by hand) is verified and extracted without
    downloading. Extraction goes to a temporary folder renamed at the end.
    """
    batches = root / "cifar-10-batches-py"
    if batches.is_dir():
        return Fetched(batches, downloaded=False)
    archive = root / "cifar-10-python.tar.gz"
    downloaded = False
    if archive.is_file():
        if _digest(archive, "md5") != md5:
            raise FetchError(f"{archive} is not the CIFAR-10 archive (md5 differs): delete it and run `labkit fetch`")
    else:
        download(url, archive, md5=md5, verbose=verbose)
        downloaded = True
    tmp = root / ".extract.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    with tarfile.open(archive, "r:gz") as tar:
        tar.extractall(tmp, filter="data")
    (tmp / "cifar-10-batches-py").replace(batches)
    shutil.rmtree(tmp, ignore_errors=True)
    return Fetched(batches, downloaded)


def _verify_checkpoint(path: Path, sha256: str | None) -> str:
    from .metrics import get_num_parameters
    from .models import CheckpointError, load_checkpoint

    digest = _digest(path, "sha256")
    if sha256 is not None and digest != sha256.lower():
        raise FetchError(f"{path} has sha256 {digest}, expected {sha256}")
    try:
        model = load_checkpoint(path)
    except CheckpointError as e:
        raise FetchError(f"downloaded checkpoint does not verify: {e}") from e
    if (n := get_num_parameters(model)) != FULL_VGG_PARAMETERS:
        raise FetchError(f"{path} holds a VGG with {n:,} parameters, not the lab's {FULL_VGG_PARAMETERS:,}")
    return digest


def fetch_checkpoint(dest: Path, *, url: str = CHECKPOINT_URL, sha256: str | None = None,
                     verbose: bool = True) -> Fetched:
    """Make sure the published dense checkpoint is at ``dest`` and verifies (see module doc)."""
    record = dest.with_name(dest.name + ".sha256")
    pinned = sha256 or (record.read_text().split()[0] if record.is_file() else None)
    if dest.is_file():
        _verify_checkpoint(dest, pinned)
        return Fetched(dest, downloaded=False)
    part = dest.with_name(dest.name + ".download")
    download(url, part, verbose=verbose)
    try:
        digest = _verify_checkpoint(part, pinned)
    except FetchError:
        part.unlink(missing_ok=True)
        raise
    part.replace(dest)
    record.write_text(f"{digest}  {dest.name}\n")
    return Fetched(dest, downloaded=True)
