"""DeviceLoader: exact images without augmentation, valid crops/flips with it, seeded order."""

from __future__ import annotations

import pytest
import torch
from torchvision import transforms

from labkit.device_loader import DeviceLoader, random_crop_flip


def _data(n: int = 10) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=g), torch.arange(n) % 10


def test_without_augmentation_yields_the_totensor_images_in_order() -> None:
    images, labels = _data(10)
    loader = DeviceLoader(images, labels, batch_size=4)
    batches = list(loader)
    assert len(loader) == len(batches) == 3 and [len(y) for _, y in batches] == [4, 4, 2]
    x = torch.cat([b[0] for b in batches])
    assert x.dtype == torch.float32 and x.shape == (10, 3, 32, 32)
    to_tensor = torch.stack([transforms.ToTensor()(img.permute(1, 2, 0).numpy()) for img in images])
    assert torch.equal(x, to_tensor)
    assert torch.equal(torch.cat([b[1] for b in batches]), labels)


def test_float_images_pass_through_and_drop_last() -> None:
    images, labels = _data(10)
    loader = DeviceLoader(images.float() / 255, labels, batch_size=4, drop_last=True)
    assert len(loader) == 2 and sum(len(y) for _, y in loader) == 8


def test_shuffle_is_a_seeded_permutation_that_changes_per_epoch() -> None:
    images, labels = _data(10)
    images[:, 0, 0, 0] = torch.arange(10, dtype=torch.uint8)  # tag each image
    loader = DeviceLoader(images, labels, batch_size=3, shuffle=True, seed=5)

    def epoch(ld: DeviceLoader) -> list[int]:
        return [int(t) for x, _ in ld for t in torch.round(x[:, 0, 0, 0] * 255)]

    first, second = epoch(loader), epoch(loader)
    assert sorted(first) == list(range(10)) and first != second
    assert epoch(DeviceLoader(images, labels, batch_size=3, shuffle=True, seed=5)) == first
    # labels travel with their images
    for x, y in DeviceLoader(images, labels, batch_size=10, shuffle=True, seed=1):
        assert torch.equal(y, torch.round(x[:, 0, 0, 0] * 255).long() % 10)


def _candidates(image: torch.Tensor) -> torch.Tensor:
    """All 162 crops (offsets 0..8, zero padding 4) and flips of one (C, H, W) image."""
    padded = torch.nn.functional.pad(image, (4, 4, 4, 4))
    crops = [padded[:, i:i + 32, j:j + 32] for i in range(9) for j in range(9)]
    return torch.stack(crops + [c.flip(-1) for c in crops])


def test_each_augmented_image_is_a_crop_or_flip_of_its_source() -> None:
    images, labels = _data(12)
    loader = DeviceLoader(images, labels, batch_size=12, augment=True, seed=2)
    out = next(iter(loader))[0]
    for src, got in zip(images.float() / 255, out):
        matches = (_candidates(src) == got).flatten(1).all(dim=1)
        assert matches.any()


def _offsets_and_flips(out: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Decode (row offset, col offset, flipped) from crops of the image 1 + arange(32*32)."""
    centre, right = out[:, 0, 16, 16].long() - 1, out[:, 0, 16, 17].long() - 1
    flipped = right == centre - 1
    rows = centre // 32 - 12
    cols = centre % 32 - 12 + flipped.long()
    return rows, cols, flipped


def test_augmentation_has_the_distribution_of_torchvision_random_crop_and_flip() -> None:
    n = 2000
    image = (1 + torch.arange(32 * 32, dtype=torch.float32)).reshape(1, 1, 32, 32).repeat(n, 3, 1, 1)
    ours = random_crop_flip(image, generator=torch.Generator().manual_seed(0))
    torch.manual_seed(0)
    tv = transforms.Compose([transforms.RandomCrop(32, padding=4), transforms.RandomHorizontalFlip()])
    theirs = torch.stack([tv(img) for img in image[:400]])
    for out, count in ((ours, n), (theirs, 400)):
        rows, cols, flipped = _offsets_and_flips(out)
        assert set(rows.tolist()) == set(range(9)) and set(cols.tolist()) == set(range(9))
        for decoded in (rows, cols):  # uniform over 0..8: each about count/9
            freq = torch.bincount(decoded, minlength=9).float() / count
            assert (freq - 1 / 9).abs().max() < 0.05
        assert abs(flipped.float().mean() - 0.5) < 0.07
    rows, cols, flipped = _offsets_and_flips(ours)
    # offsets and flip are independent: flip rate is ~1/2 at every row offset
    for i in range(9):
        assert abs(flipped[rows == i].float().mean() - 0.5) < 0.15


def test_device_and_validation() -> None:
    images, labels = _data(4)
    loader = DeviceLoader(images, labels, device="cpu")
    assert loader.device == torch.device("cpu") and loader.num_samples == 4
    assert "N=4" in repr(loader)
    with pytest.raises(ValueError, match="same N"):
        DeviceLoader(images, labels[:3])
    with pytest.raises(ValueError, match="uint8 or floating"):
        DeviceLoader(images.long(), labels)
    with pytest.raises(ValueError, match="batch_size"):
        DeviceLoader(images, labels, batch_size=0)


class _DrawRecorder(torch.overrides.TorchFunctionMode):
    """Record every random draw (where it happens) and every explicit device move."""

    DRAWS = {torch.randint, torch.rand, torch.randperm}

    def __init__(self) -> None:
        super().__init__()
        self.draw_devices: list[torch.device] = []
        self.moves: list[str] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in self.DRAWS:
            gen = kwargs.get("generator")
            self.draw_devices.append(torch.device(kwargs.get("device") or (gen.device if gen else "cpu")))
        if func in (torch.Tensor.to, torch.Tensor.cuda, torch.Tensor.copy_):
            # a move names a device (or copies from a tensor on one); dtype-only .to() is fine
            named = [a for a in list(args[1:]) + list(kwargs.values())
                     if isinstance(a, (torch.device, str)) or (func is torch.Tensor.copy_ and isinstance(a, torch.Tensor))]
            if named or func is torch.Tensor.cuda:
                self.moves.append(f"{func.__name__}{tuple(str(a) for a in named)}")
        return func(*args, **kwargs)


def test_per_batch_randomness_is_drawn_on_the_loaders_device_with_no_copies() -> None:
    """On a GPU a host-to-device copy per batch (offsets, flips, order) stalls the queue: every
    draw must happen on the loader's device and no batch may move a tensor between devices."""
    images, labels = _data(40)
    loader = DeviceLoader(images, labels, batch_size=8, shuffle=True, augment=True, seed=1)
    assert isinstance(loader.generator, torch.Generator) and loader.generator.device == loader.device
    with _DrawRecorder() as rec:
        batches = list(loader)
    assert len(batches) == 5
    assert len(rec.draw_devices) == 1 + 2 * 5  # the order, then offsets + flips per batch
    assert set(rec.draw_devices) == {loader.device}
    assert rec.moves == []


def test_the_generator_state_can_be_saved_and_restored() -> None:
    images, labels = _data(20)
    loader = DeviceLoader(images, labels, batch_size=5, shuffle=True, augment=True, seed=4)
    state = loader.generator.get_state()
    first = [x for x, _ in loader]
    loader.generator.set_state(state)
    again = [x for x, _ in loader]
    assert all(torch.equal(a, b) for a, b in zip(first, again))
