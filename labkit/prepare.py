"""Make a profile ready -- its dataset on disk, its dense checkpoint in place -- in one place.

Every user of a profile calls :func:`prepare`: the notebook's ``lk.setup()``, the grader (once,
before its workers start), the release audit, the demo, and ``labkit train`` (data only).

* **tiny**: nothing is trained. The dataset is generated when missing or when an older labkit
  wrote it (about 3 s) and then checked against the sha256 checksums shipped with labkit
  (``labkit/assets/tiny_dataset.sha256``); the generator uses integer arithmetic only, so every
  machine writes the same bytes. The checkpoint is the one shipped inside labkit
  (``labkit/assets/vgg_tiny.pth``, about 0.6 MB): it is copied to ``profile.checkpoint`` when that
  file is missing or differs, so students, graders and the Q5 calibration all use one model.
* **full**: :func:`labkit.fetch.ensure_full_profile` finds CIFAR-10 and the checkpoint (the
  published one, verified, or a self-trained one) and, with ``download=True``, downloads what
  is missing; without it a missing file raises an error that says to run ``labkit fetch``.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path


from . import synthetic
from .data import DataNotFoundError, ensure_cifar10, load_cifar_tensors
from .profiles import Profile, resolve_profile

__all__ = [
    "Ready", "prepare", "SHIPPED_TINY_CHECKPOINT", "TINY_CHECKSUMS", "tiny_checksums",
    "dataset_checksums", "verify_tiny_dataset",
]

ASSETS = Path(__file__).resolve().parent / "assets"
SHIPPED_TINY_CHECKPOINT = ASSETS / "vgg_tiny.pth"  # trained by `labkit train --profile tiny`
TINY_CHECKSUMS = ASSETS / "tiny_dataset.sha256"  # `sha256sum` format, one line per file


@dataclass(frozen=True)
class Ready:
    """What :func:`prepare` made ready.

    Attributes:
        profile: the profile.
        data: its ``cifar-10-batches-py`` folder.
        checkpoint: its dense checkpoint, or None when ``model=False`` was asked.
        done: one line per thing this call had to do (empty when all was already in place).
        verified: tiny profile: True when this call generated the dataset and its bytes match
            the shipped checksums, False when they did not; None when nothing was generated.
    """

    profile: Profile
    data: Path
    checkpoint: Path | None
    done: tuple[str, ...] = ()
    verified: bool | None = None


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def tiny_checksums() -> dict[str, str]:
    """The shipped checksums of the tiny dataset: file name -> sha256 (hex)."""
    out = {}
    for line in TINY_CHECKSUMS.read_text().splitlines():
        if line.strip():
            digest, name = line.split(maxsplit=1)
            out[name.lstrip("*")] = digest
    return out


def dataset_checksums(folder: str | Path) -> dict[str, str]:
    """sha256 of each dataset file in a ``cifar-10-batches-py`` folder (the tensor caches excluded)."""
    folder = Path(folder)
    names = [*synthetic.TRAIN_FILES, synthetic.TEST_FILE, synthetic.META_FILE]
    return {name: _sha256(folder / name) for name in names if (folder / name).is_file()}


def verify_tiny_dataset(folder: str | Path) -> list[str]:
    """Names of the files in ``folder`` whose bytes differ from the shipped checksums ([] = all match)."""
    expected, got = tiny_checksums(), dataset_checksums(folder)
    return [name for name in expected if got.get(name) != expected[name]]


def _generator_version(folder: Path) -> int | None:
    """The generator version stamped in ``batches.meta`` (None: unreadable or an older labkit)."""
    try:
        with open(folder / synthetic.META_FILE, "rb") as f:
            return pickle.load(f).get("labkit_generator")
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ValueError):
        return None


def _tiny_data(profile: Profile, done: list[str], verbose: bool) -> bool | None:
    folder = profile.data_root / synthetic.FOLDER
    present = all((folder / n).is_file()
                  for n in (*synthetic.TRAIN_FILES, synthetic.TEST_FILE, synthetic.META_FILE))
    if present and _generator_version(folder) == synthetic.GENERATOR_VERSION:
        return None
    why = "missing" if not present else "written by an older labkit"
    t0 = time.perf_counter()
    synthetic.write_tiny_cifar(profile.data_root, overwrite=folder.exists())
    bad = verify_tiny_dataset(folder)
    done.append(f"generated the tiny dataset in {folder} ({why}; {time.perf_counter() - t0:.1f} s)"
                + ("" if not bad else f"; checksums DIFFER for {', '.join(bad)}"))
    if verbose:
        print(done[-1])
    if bad:
        warnings.warn(
            f"the tiny dataset generated on this machine differs from the one labkit's tiny model "
            f"was trained on ({', '.join(bad)} do not match {TINY_CHECKSUMS}); results will differ "
            "from other machines' -- please report this with your numpy version "
            f"(numpy.__version__) to the course staff", RuntimeWarning, stacklevel=3)
    return not bad


def _tiny_checkpoint(profile: Profile, done: list[str], verbose: bool) -> Path:
    dest = profile.checkpoint
    shipped = SHIPPED_TINY_CHECKPOINT.read_bytes()
    if dest.is_file() and dest.read_bytes() == shipped:
        return dest
    why = "missing" if not dest.is_file() else "it differed from the shipped one"
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(shipped)
        os.chmod(tmp, 0o644)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    done.append(f"copied the tiny model shipped with labkit to {dest} ({why})")
    if verbose:
        print(done[-1])
    return dest


def _full(profile: Profile, model: bool, download: bool, verbose: bool) -> Ready:
    done: tuple[str, ...] = ()
    checkpoint = None
    if model:  # the full profile's files are labkit.fetch's: published vs self-trained checkpoint
        from .fetch import ensure_full_profile

        files = ensure_full_profile(profile, download=download, verbose=verbose)
        checkpoint, done = files.checkpoint, files.done
    try:
        data = ensure_cifar10(profile.data_root, download=download)
    except DataNotFoundError as e:
        raise DataNotFoundError(f"{e} (`labkit fetch` downloads it.)") from None
    if model and checkpoint is None:
        raise FileNotFoundError(
            f"the full profile's checkpoint {profile.checkpoint} is missing: run "
            "`labkit fetch` to download the published one, or `labkit train --profile full` on a "
            "GPU to train it (~3 min on an H100); or use LABKIT_PROFILE=tiny"
        )
    return Ready(profile, data, checkpoint, done)


def _share(root: Path) -> None:
    """Make everything under ``root`` readable (and folders enterable) by every user."""
    for folder, dirs, files in os.walk(root):
        for name in [*dirs, *files, "."]:
            path = os.path.join(folder, name)
            mode = os.stat(path).st_mode
            want = mode | 0o004 | (0o001 if os.path.isdir(path) else 0)
            if want != mode:
                os.chmod(path, want)


def prepare(
    profile: Profile | str | None = None,
    *,
    model: bool = True,
    download: bool = False,
    share: bool = False,
    verbose: bool = False,
) -> Ready:
    """Make ``profile``'s dataset and (``model``) dense checkpoint ready; idempotent and cheap
    when they are (a size check and a 0.6 MB comparison for tiny).

    Args:
        profile: a :class:`Profile`, "tiny", "full", or None (:func:`resolve_profile`).
        model: also make the checkpoint ready (False: the dataset only, e.g. to train one).
        download: full profile: download CIFAR-10 when it is missing (needs the internet).
        share: make the profile's files readable by every user (the grader's sandboxed kernels
            run as another user), whatever the umask, after writing the decoded-tensor caches
            (the kernels cannot write them, and without them each kernel decodes the batches
            through torchvision).
        verbose: print each thing done.

    Returns:
        A :class:`Ready` naming the data folder and checkpoint, and what was done.

    Raises:
        DataNotFoundError: full profile without CIFAR-10 (the message says what to run).
        FileNotFoundError: full profile without its checkpoint.

    Example:
        >>> ready = prepare("tiny")       # first time: ~3 s (data); later: instant
        >>> ready.checkpoint              # data/tiny/vgg_tiny.pth, the shipped model
    """
    profile = profile if isinstance(profile, Profile) else resolve_profile(profile)
    if profile.name != "tiny":
        ready = _full(profile, model, download, verbose)
    else:
        done: list[str] = []
        verified = _tiny_data(profile, done, verbose)
        checkpoint = _tiny_checkpoint(profile, done, verbose) if model else None
        ready = Ready(profile, profile.data_root / synthetic.FOLDER, checkpoint, tuple(done), verified)
    if share:
        for train in (True, False):
            load_cifar_tensors(profile.data_root, train=train)  # writes the cache when missing
        _share(profile.data_root)
    return ready
