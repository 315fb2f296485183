"""The full profile's files: CIFAR-10 and the published VGG checkpoint, downloaded and verified.

Downloads go to a ``.part`` file and are renamed only after they verify, so an interrupted or
corrupt download never leaves a file that looks complete. CIFAR-10 is checked against a pinned
sha256 and size (:data:`CIFAR10_SHA256`, :data:`CIFAR10_SIZE`) and the md5 published with the
dataset (the one torchvision checks). The published checkpoint is checked against a pinned
sha256 and size (:data:`PUBLISHED_SHA256`, :data:`PUBLISHED_SIZE`; they come from a third-party
Git LFS copy of the file until a machine with internet confirms them, see BENCHMARKS.md); a
course can pin another file with ``labkit fetch --checkpoint-sha256`` or
``LABKIT_CHECKPOINT_SHA256``. The checkpoint is tried at each of :data:`CHECKPOINT_URLS` in
order (the published URL, then the course's mirror).

A file pinned by sha256 is safe whatever TLS says, so for such a file a certificate that cannot
be verified (an outdated CA bundle, the course host's certificate) is retried once without TLS
verification, for that request only, and said so in one line; the pin then decides. A download
without a sha256 pin is never retried: it fails with :class:`CertificateError`.

Every failure is one of four kinds, each with its own exception and a message that says what
to do: :class:`NotDownloadedError` (offline, unreachable, HTTP error), :class:`CertificateError`
(HTTPS certificate could not be verified), :class:`CorruptFileError` (truncated or unreadable),
:class:`NotPublishedError` (a valid checkpoint, but not the published file). Nothing here
deletes a file it did not download, and each URL is tried at most twice (the one retry above),
so no failure can loop.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import ssl
import sys
import tarfile
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from tqdm.auto import tqdm

from .profiles import (CHECKPOINT_MIRROR_URL, CHECKPOINT_URL, CHECKPOINT_URLS, FULL_VGG_PARAMETERS,
                       PUBLISHED_SHA256, PUBLISHED_SIZE, SELF_TRAINED_NAME, SHA256_ENV, Profile,
                       _full, _tiny, resolve_profile)
from .runtime import is_autograding

__all__ = [
    "CIFAR10_URL", "CIFAR10_MD5", "CIFAR10_SHA256", "CIFAR10_SIZE", "CHECKPOINT_URL",
    "CHECKPOINT_MIRROR_URL", "CHECKPOINT_URLS", "PUBLISHED_SHA256", "PUBLISHED_SIZE",
    "FetchError", "NotDownloadedError", "CertificateError", "CorruptFileError", "NotPublishedError",
    "Fetched", "FullFiles", "download", "fetch_cifar10", "fetch_checkpoint", "verify_published",
    "ensure_full_profile", "choose_profile", "safe_extractall",
]

CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_MD5 = "c58f30108f718f92721af3b95e74349a"
CIFAR10_SHA256 = "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"
CIFAR10_SIZE = 170_498_071  # bytes
UNVERIFIED_TLS = ("could not verify the certificate of {url}; downloading without TLS verification, "
                  "the file is checked against its pinned sha256")


class FetchError(RuntimeError):
    """A download failed or a file did not verify; the message says what to do.

    Attributes:
        what: what failed, in a few words (the message without the advice), for a list of
            the URLs tried.
    """

    def __init__(self, message: str, *, what: str | None = None) -> None:
        super().__init__(message)
        self.what = what or message


class NotDownloadedError(FetchError):
    """The file could not be downloaded: offline, host unreachable, HTTP error, timeout."""


class CertificateError(NotDownloadedError):
    """The server's HTTPS certificate could not be verified (missing CA certificates, a proxy)."""


class CorruptFileError(FetchError):
    """A file is truncated or unreadable (not a torch checkpoint / not the archive)."""


class NotPublishedError(FetchError):
    """A readable checkpoint that is not the published file (another sha256 or size)."""


@dataclass(frozen=True)
class Fetched:
    path: Path
    downloaded: bool  # False when a verified file was already there


@dataclass(frozen=True)
class FullFiles:
    """What :func:`ensure_full_profile` found or fetched.

    Attributes:
        data: the ``cifar-10-batches-py`` folder, or None when CIFAR-10 is missing (not downloaded).
        checkpoint: the checkpoint the profile uses, or None when missing.
        kind: "published" (verified against the pin), "self-trained" (made by
            ``labkit train --profile full``), "unverified" (at the published path but not the
            published file: a warning was given) or "missing".
        done: one line per thing done or found, as printed with ``verbose``.
    """

    data: Path | None
    checkpoint: Path | None
    kind: str
    done: tuple[str, ...] = field(default=())


def _digest(path: Path, algorithm: str) -> str:
    return _digests(path, (algorithm,))[algorithm]


def _digests(path: Path, algorithms: Sequence[str]) -> dict[str, str]:
    """The hex digests of ``path`` for each algorithm, in one read."""
    hashes = {a: hashlib.new(a) for a in algorithms}
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            for h in hashes.values():
                h.update(block)
    return {a: h.hexdigest() for a, h in hashes.items()}


def _mismatch(path: Path, *, md5: str | None, sha256: str | None, size: int | None) -> str | None:
    """What differs from the pins given (size first: no hashing for a truncated file), or None."""
    got = path.stat().st_size
    if size is not None and got != size:
        return f"{got:,} bytes, expected {size:,}"
    pins = {a: want.lower() for a, want in (("sha256", sha256), ("md5", md5)) if want}
    digests = _digests(path, tuple(pins)) if pins else {}
    for algorithm, want in pins.items():
        if digests[algorithm] != want:
            return f"{got:,} bytes, {algorithm} {digests[algorithm]}, expected {want}"
    return None


def _is_certificate_failure(error: BaseException) -> bool:
    reason = getattr(error, "reason", error)
    return isinstance(reason, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in str(error)


def _copy(url: str, part: Path, *, timeout: float, verbose: bool, label: str,
          context: ssl.SSLContext | None = None) -> None:
    """Copy ``url`` into ``part`` with a progress bar (``verbose``); ``part`` removed on failure."""
    extra = {} if context is None else {"context": context}
    try:
        with urllib.request.urlopen(url, timeout=timeout, **extra) as response, open(part, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=f"download {label}",
                      leave=False, disable=not verbose) as bar:
                for block in iter(lambda: response.read(1 << 20), b""):
                    out.write(block)
                    bar.update(len(block))
    except BaseException:
        part.unlink(missing_ok=True)
        raise


def _transfer(url: str, part: Path, dest: Path, *, pinned: bool, timeout: float, verbose: bool) -> None:
    """Copy ``url`` into ``part``; for a ``pinned`` file, retry a certificate failure unverified.

    The retry uses an unverified TLS context for that one request and says so in one line
    (:data:`UNVERIFIED_TLS`, on stderr, whatever ``verbose``); the caller checks the pin.

    Raises:
        CertificateError: not verified and not ``pinned``.
        NotDownloadedError: any other failure (named with ``dest``, where to copy it by hand).
    """
    try:
        try:
            _copy(url, part, timeout=timeout, verbose=verbose, label=dest.name)
        except (urllib.error.URLError, OSError, TimeoutError) as e:
            if not (pinned and _is_certificate_failure(e)):
                raise
            print(UNVERIFIED_TLS.format(url=url), file=sys.stderr, flush=True)
            _copy(url, part, timeout=timeout, verbose=verbose, label=dest.name,
                  context=ssl._create_unverified_context())  # the pin decides
    except (urllib.error.URLError, OSError, TimeoutError) as e:
        raise _not_downloaded(url, dest, e) from e


def _not_downloaded(url: str, dest: Path, e: BaseException) -> NotDownloadedError:
    by_hand = f"download it in a browser and copy it to {dest}, or use the tiny profile " \
              "(LABKIT_PROFILE=tiny), which needs no download"
    reason = getattr(e, "reason", e)
    if _is_certificate_failure(e):
        return CertificateError(
            f"could not verify the certificate of {url} ({reason}): this Python's CA "
            "certificates are missing or out of date, or a proxy intercepts HTTPS. Update them "
            "(`pip install --upgrade certifi`; on macOS run Python's 'Install "
            f"Certificates.command'), or {by_hand}.", what=f"could not verify the certificate ({reason})")
    what = f"HTTP {e.code} {e.reason}" if isinstance(e, urllib.error.HTTPError) else str(e)
    return NotDownloadedError(f"not downloaded: could not download {url} ({what}). If this machine "
                              f"is offline, {by_hand}.", what=f"not downloaded ({what})")


def download(url: str, dest: Path, *, md5: str | None = None, sha256: str | None = None,
             size: int | None = None, timeout: float = 30.0, verbose: bool = True) -> Path:
    """Download ``url`` to ``dest`` atomically (progress bar with ``verbose``), checking the pins.

    Args:
        url: what to download.
        dest: where; written as ``dest.part`` and renamed once every pin given matches.
        md5, sha256, size: the pins to check (each optional). With ``sha256``, a certificate
            that cannot be verified is retried once without TLS verification (see module doc).
        timeout: seconds to wait for the server.
        verbose: show a progress bar.

    Raises:
        CertificateError: HTTPS certificate not verified (and no ``sha256`` pin).
        NotDownloadedError: offline, unreachable, HTTP error or timeout.
        CorruptFileError: the size, sha256 or md5 differs.
        Nothing is left at ``dest`` after a failure.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    _transfer(url, part, dest, pinned=sha256 is not None, timeout=timeout, verbose=verbose)
    if problem := _mismatch(part, md5=md5, sha256=sha256, size=size):
        part.unlink(missing_ok=True)
        raise CorruptFileError(f"{url} arrived corrupt ({problem}); it was deleted: run `labkit "
                               "fetch` again", what=f"arrived corrupt ({problem})")
    part.replace(dest)
    return dest


def safe_extractall(tar: tarfile.TarFile, dest: Path) -> None:
    """``tar.extractall(dest)`` refusing links, devices, absolute paths and ``..``.

    Uses ``filter="data"`` where Python has it (3.11.4+, 3.12+); on older Pythons the same
    rules are checked member by member first.

    Raises:
        CorruptFileError: a member that the data filter would refuse (nothing is extracted).
    """
    if hasattr(tarfile, "data_filter"):
        try:
            tar.extractall(dest, filter="data")
        except tarfile.FilterError as e:
            raise CorruptFileError(f"{tar.name}: refusing to extract ({e})") from e
        return
    root = Path(dest).resolve()
    for m in tar.getmembers():
        target = (root / m.name).resolve()
        if not (m.isfile() or m.isdir()) or os.path.isabs(m.name) or not target.is_relative_to(root):
            raise CorruptFileError(f"{tar.name}: refusing to extract {m.name!r} (not a plain file "
                                   f"or folder inside {dest})")
    tar.extractall(dest)  # noqa: S202 - every member checked above


def fetch_cifar10(root: Path, *, url: str = CIFAR10_URL, md5: str | None = CIFAR10_MD5,
                  sha256: str | None = CIFAR10_SHA256, size: int | None = CIFAR10_SIZE,
                  verbose: bool = True) -> Fetched:
    """Make sure ``root/cifar-10-batches-py`` exists: download and extract the archive if not.

    An archive already in ``root`` (copied there by hand) is checked against the same pins and
    extracted without downloading. Extraction goes to a temporary folder renamed at the end.

    Args:
        root: the data folder (``data/cifar10``).
        url: where the archive is published.
        md5, sha256, size: the archive's pins (default: the published CIFAR-10's); with a
            ``sha256``, a certificate failure is retried unverified (see :func:`download`).
        verbose: progress bar.

    Raises:
        NotDownloadedError, CertificateError, CorruptFileError: see :func:`download`; also an
            archive copied by hand whose size, sha256 or md5 differs.
    """
    root = Path(root)
    batches = root / "cifar-10-batches-py"
    if batches.is_dir():
        return Fetched(batches, downloaded=False)
    archive = root / "cifar-10-python.tar.gz"
    downloaded = False
    if archive.is_file():
        if problem := _mismatch(archive, md5=md5, sha256=sha256, size=size):
            raise CorruptFileError(f"{archive} is corrupt or not the CIFAR-10 archive ({problem}): "
                                   "delete it and run `labkit fetch`")
    else:
        download(url, archive, md5=md5, sha256=sha256, size=size, verbose=verbose)
        downloaded = True
    tmp = root / ".extract.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    with tarfile.open(archive, "r:gz") as tar:
        safe_extractall(tar, tmp)
    (tmp / "cifar-10-batches-py").replace(batches)
    shutil.rmtree(tmp, ignore_errors=True)
    return Fetched(batches, downloaded)


def _pin(sha256: str | None) -> tuple[str, int | None]:
    """The sha256 to check and the size (only known for the published file)."""
    pinned = sha256 or os.environ.get(SHA256_ENV)
    if pinned and pinned.lower() != PUBLISHED_SHA256:
        return pinned.lower(), None
    return PUBLISHED_SHA256, PUBLISHED_SIZE


def _describe_mismatch(path: Path, size: int, digest: str) -> tuple[type[FetchError], str]:
    """Corrupt (unreadable) or not published (a readable checkpoint)? And a description."""
    from .metrics import get_num_parameters
    from .models import CheckpointError, UnsafeCheckpointError, load_checkpoint

    try:
        model = load_checkpoint(path, trusted=False)
    except UnsafeCheckpointError as e:
        return NotPublishedError, f"it is not the published file: a readable torch file ({size:,} bytes, " \
                                  f"sha256 {digest}) holding objects the safe loader refuses ({e.refused})"
    except (CheckpointError, OSError) as e:
        return CorruptFileError, f"it is corrupt: {size:,} bytes that do not load ({str(e).splitlines()[0]})"
    n = get_num_parameters(model)
    what = "the lab's VGG" if n == FULL_VGG_PARAMETERS else f"a VGG with {n:,} parameters"
    return NotPublishedError, f"it is not the published file: a readable checkpoint of {what}, " \
                              f"but {size:,} bytes with sha256 {digest}"


def verify_published(path: Path, sha256: str | None = None) -> str:
    """Check that ``path`` is the published checkpoint (pinned sha256 and size); return its sha256.

    Args:
        path: the file.
        sha256: another file to pin (a course's own); default: ``LABKIT_CHECKPOINT_SHA256``,
            else the published file's.

    Raises:
        CorruptFileError: the file does not load (truncated, an HTML error page ...).
        NotPublishedError: it loads but is another file (e.g. a self-trained model).
    """
    want, size_wanted = _pin(sha256)
    size = path.stat().st_size
    digest = _digest(path, "sha256")
    if digest == want and (size_wanted is None or size == size_wanted):
        return digest
    kind, why = _describe_mismatch(path, size, digest)
    if kind is CorruptFileError and size_wanted is not None and size < size_wanted:
        why += f"; {size:,} of {size_wanted:,} bytes: truncated"
    expected = f"sha256 {want}" + (f", {size_wanted:,} bytes" if size_wanted else "")
    raise kind(f"{path}: {why}; the pinned file has {expected}")


def _candidates(url: str | Sequence[str]) -> tuple[str, ...]:
    """The URLs to try in order: a sequence as given; the published URL and then its mirror."""
    if isinstance(url, str):
        return tuple(CHECKPOINT_URLS) if url == CHECKPOINT_URL else (url,)
    return tuple(url)


def fetch_checkpoint(dest: Path, *, url: str | Sequence[str] = CHECKPOINT_URLS,
                     sha256: str | None = None, verbose: bool = True) -> Fetched:
    """Make sure the published dense checkpoint is at ``dest`` and verifies (see module doc).

    A file already at ``dest`` is verified, never deleted or downloaded again: when it is not
    the published file, the error says what to do with it. Otherwise each URL is tried in
    order until one gives the pinned file; a download that does not verify is deleted.

    Args:
        dest: where the checkpoint goes (``data/vgg.cifar.pretrained.pth``).
        url: the URLs to try in order (default :data:`CHECKPOINT_URLS`), or one URL
            (:data:`CHECKPOINT_URL` stands for it and its mirror).
        sha256: another file to pin (see :func:`verify_published`).
        verbose: progress bars.

    Raises:
        NotDownloadedError, CertificateError: the download failed.
        CorruptFileError, NotPublishedError: the file (there or downloaded) did not verify.
        With several URLs, the error names each URL and what failed there.
    """
    dest = Path(dest)
    if dest.is_file():
        try:
            verify_published(dest, sha256)
        except NotPublishedError as e:
            raise NotPublishedError(
                f"{e}. If you trained it, move it to {dest.with_name(SELF_TRAINED_NAME)} (where "
                f"`labkit train --profile full` saves); otherwise delete it and run `labkit fetch` "
                f"again. A course that publishes another file pins it with --checkpoint-sha256 or "
                f"{SHA256_ENV}.") from None
        except CorruptFileError as e:
            raise CorruptFileError(f"{e}. Delete it and run `labkit fetch` again.") from None
        return Fetched(dest, downloaded=False)
    urls = _candidates(url)
    failures: list[tuple[str, FetchError]] = []
    for candidate in urls:
        try:
            return _download_checkpoint(candidate, dest, sha256, verbose=verbose)
        except FetchError as e:
            if len(urls) == 1:
                raise
            failures.append((candidate, e))
    raise _none_worked(dest, failures)


def _download_checkpoint(url: str, dest: Path, sha256: str | None, *, verbose: bool) -> Fetched:
    """One URL: download to ``dest.download``, verify against the pin, rename to ``dest``."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".download")
    _transfer(url, part, dest, pinned=True, timeout=30.0, verbose=verbose)  # always pinned
    try:
        verify_published(part, sha256)
    except NotPublishedError as e:
        part.unlink(missing_ok=True)
        raise NotPublishedError(
            f"the file downloaded from {url} is not the published checkpoint ({e}); it was "
            f"deleted. If the course republished it and you trust the source, pin its sha256: "
            f"`labkit fetch --checkpoint-sha256 <sha256>` (or {SHA256_ENV})",
            what=f"not the published checkpoint ({e}); deleted") from None
    except CorruptFileError as e:
        part.unlink(missing_ok=True)
        raise CorruptFileError(f"the file downloaded from {url} arrived corrupt ({e}); it was "
                               "deleted: run `labkit fetch` again",
                               what=f"arrived corrupt ({e}); deleted") from None
    part.replace(dest)
    return Fetched(dest, downloaded=True)


def _none_worked(dest: Path, failures: list[tuple[str, FetchError]]) -> FetchError:
    """One error naming every URL tried and what failed there, of the kind they share."""
    kinds = {type(e) for _, e in failures}
    kind: type[FetchError] = kinds.pop() if len(kinds) == 1 else (
        NotDownloadedError if all(issubclass(k, NotDownloadedError) for k in kinds) else FetchError)
    tried = "; ".join(f"{url}: {e.what}" for url, e in failures)
    return kind(f"could not fetch {dest.name} from any of its {len(failures)} URLs ({tried}). "
                f"Download it in a browser from one of them and copy it to {dest}, or use the tiny "
                "profile (LABKIT_PROFILE=tiny), which needs no download.")


def _say(done: list[str], line: str, verbose: bool) -> None:
    done.append(line)
    if verbose:
        print(line)


def ensure_full_profile(profile: Profile, *, download: bool, verbose: bool,
                        sha256: str | None = None) -> FullFiles:
    """Make the full profile's files ready as far as allowed; say what was found and done.

    * CIFAR-10: used when extracted; else extracted from an archive copied by hand (size,
      sha256 and md5 checked); else, with ``download``, downloaded with a progress bar.
    * The checkpoint: the published file at ``profile.published_checkpoint`` is verified
      (pinned sha256 + size); a self-trained one (``profile.trained_checkpoint``) is used as
      such when the published one is absent; with ``download`` and neither present, the
      published one is downloaded (from each of :data:`CHECKPOINT_URLS` in turn). A file at the published path that is a readable checkpoint
      but not the published file is used with a warning (kind "unverified").

    Without ``download``, missing files are reported in the result (kind "missing", data None),
    not raised: the caller (:func:`labkit.prepare.prepare`) says what to run.

    Raises:
        NotDownloadedError, CertificateError: a needed download failed.
        CorruptFileError: a file there (or downloaded) is truncated or unreadable.
        NotPublishedError: only for a download that is not the published file.
    """
    import warnings

    done: list[str] = []
    batches = Path(profile.data_root) / "cifar-10-batches-py"
    archive = Path(profile.data_root) / "cifar-10-python.tar.gz"
    data: Path | None = batches if batches.is_dir() else None
    if data is None and (download or archive.is_file()):
        got = fetch_cifar10(profile.data_root, url=CIFAR10_URL, md5=CIFAR10_MD5, sha256=CIFAR10_SHA256,
                            size=CIFAR10_SIZE, verbose=verbose)
        data = got.path
        _say(done, f"CIFAR-10: {'downloaded to' if got.downloaded else 'extracted in'} {data}", verbose)

    published = Path(profile.published_checkpoint or profile.checkpoint)
    trained = Path(profile.trained_checkpoint or published)
    if published.is_file():
        try:
            verify_published(published, sha256)
            return FullFiles(data, published, "published", tuple(done))
        except NotPublishedError as e:
            warnings.warn(
                f"{e}. It is used, but the lab's numbers (92.95% dense accuracy) may differ. If "
                f"you trained it, move it to {trained} (where `labkit train --profile full` "
                "saves); to get the published file, delete it and run `labkit fetch`.",
                RuntimeWarning, stacklevel=2)
            _say(done, f"checkpoint: {published} is NOT the published file (unverified)", verbose)
            return FullFiles(data, published, "unverified", tuple(done))
        except CorruptFileError as e:
            raise CorruptFileError(f"{e}. Delete it and run `labkit fetch` again.") from None
    if trained.is_file() and trained != published:
        _say(done, f"checkpoint: {trained}, trained by `labkit train --profile full` (not the "
                   "published one; `labkit fetch` downloads that)", verbose)
        return FullFiles(data, trained, "self-trained", tuple(done))
    if download:
        fetch_checkpoint(published, url=CHECKPOINT_URLS, sha256=sha256, verbose=verbose)
        _say(done, f"checkpoint: downloaded the published one to {published} (sha256 verified)", verbose)
        return FullFiles(data, published, "published", tuple(done))
    return FullFiles(data, None, "missing", tuple(done))


def choose_profile(profile: str | None = None, *, download: bool = True, verbose: bool = True) -> Profile:
    """The profile for a notebook session: :func:`~labkit.profiles.resolve_profile`, and on a GPU the full one.

    As the original lab does on Colab: when the choice is automatic (no argument, no
    ``LABKIT_PROFILE``, not grading) and a GPU is present but CIFAR-10 or the checkpoint is
    missing, download them (``download``; progress bars) and use the full profile. When that
    fails (offline, no URL reachable ...) the tiny profile is used, and its ``reason`` says
    what failed and what to run. Without a GPU nothing is downloaded (tiny, as before).

    Returns:
        The chosen :class:`Profile`; ``profile.reason`` says why.
    """
    chosen = resolve_profile(profile)
    automatic = not profile and not os.environ.get("LABKIT_PROFILE") and not is_autograding()
    if chosen.name == "full" or not automatic or not torch.cuda.is_available() or not download:
        return chosen
    if verbose:
        print("a GPU is present: fetching CIFAR-10 and the published checkpoint for the full "
              "profile, as the original lab does (once; about 200 MB)")
    try:
        ensure_full_profile(_full(""), download=True, verbose=verbose)
    except (FetchError, OSError) as e:
        first = str(e).splitlines()[0]
        return _tiny(f"a GPU is present, but the full profile's files could not be fetched "
                     f"({type(e).__name__}: {first}); run `labkit fetch` to retry")
    return _full("a GPU is present; CIFAR-10 and the checkpoint were fetched")
