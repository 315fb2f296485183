"""The lab's arithmetic: what is compared runs in full fp32 (TF32 off), training's fast modes
only where the hardware has them natively; flags are restored afterwards."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import labkit as lk
from labkit.runtime import fp32_modes, native_bf16, training_precision, training_precision_name
from labkit.sensitivity import naive_sensitivity_scan
import oracle


class _Spy(nn.Module):
    """A VGG whose forward records the fp32 modes in force when it runs."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.vgg = lk.VGG(0.125)
        self.seen: list[dict[str, str]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.append(fp32_modes())
        return self.vgg(x)


@pytest.fixture
def tf32_on():
    """The user (or torch's defaults on a GPU) allow TF32 everywhere; restored after the test."""
    saved = fp32_modes()
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    before = fp32_modes()
    assert before["cuda.matmul"] == "tf32" and before["cudnn.conv"] == "tf32"
    yield before
    torch.backends.cuda.matmul.allow_tf32 = saved["cuda.matmul"] == "tf32"
    torch.backends.cudnn.allow_tf32 = saved["cudnn.conv"] == "tf32"


def _all_ieee(seen: list[dict[str, str]]) -> bool:
    return bool(seen) and all(v == "ieee" for modes in seen for k, v in modes.items()
                              if k in ("cuda.matmul", "cudnn.conv"))


def test_evaluate_runs_in_full_fp32_and_restores_tf32(tf32_on) -> None:
    spy = _Spy()
    x, y = torch.rand(8, 3, 32, 32), torch.arange(8) % 10
    lk.evaluate(spy, [(x, y)], verbose=False)
    assert _all_ieee(spy.seen)
    assert fp32_modes() == tf32_on
    assert torch.backends.cuda.matmul.allow_tf32 and torch.backends.cudnn.allow_tf32


def test_check_same_function_and_latency_run_in_full_fp32(tf32_on, capsys) -> None:
    a, b = _Spy(), _Spy()
    assert lk.check_same_function("same", a, b, torch.rand(2, 3, 32, 32))
    lk.measure_latency(a, torch.rand(1, 3, 32, 32), n_warmup=0, n_test=1, verbose=False)
    assert _all_ieee(a.seen) and _all_ieee(b.seen) and len(a.seen) == 2
    assert fp32_modes() == tf32_on


def test_the_scans_run_in_full_fp32(tf32_on) -> None:
    torch.manual_seed(0)
    model = lk.VGG(0.125).eval()
    seen: list[dict[str, str]] = []
    model.classifier.register_forward_hook(lambda *_: seen.append(fp32_modes()))
    x = torch.rand(4, 3, 32, 32)
    loader = [(x, torch.arange(4))]
    lk.sensitivity_scan(model, loader, oracle.fine_grained_prune, scan_start=0.8, verbose=False)
    naive_sensitivity_scan(model, loader, oracle.fine_grained_prune, scan_start=0.8, verbose=False)
    assert _all_ieee(seen)
    assert fp32_modes() == tf32_on


def test_exact_fp32_restores_after_an_exception(tf32_on) -> None:
    with pytest.raises(KeyError):
        with lk.exact_fp32():
            assert fp32_modes()["cudnn.conv"] == "ieee"
            raise KeyError("boom")
    assert fp32_modes() == tf32_on


def test_exact_fp32_changes_nothing_on_the_cpu() -> None:
    torch.manual_seed(0)
    model = lk.VGG(0.125).eval()
    x = torch.rand(16, 3, 32, 32)
    with torch.no_grad():
        plain = model(x)
        with lk.exact_fp32():
            exact = model(x)
    assert torch.equal(plain, exact)


class _FakeCuda:
    """Just enough of torch.cuda for native_bf16 on a GPU of a given compute capability."""

    def __init__(self, capability: tuple[int, int], native: bool) -> None:
        self.capability, self.native = capability, native

    def is_available(self) -> bool:
        return True

    def is_bf16_supported(self, including_emulation: bool = True) -> bool:
        return self.native or including_emulation

    def get_device_capability(self, device=None) -> tuple[int, int]:
        return self.capability


@pytest.mark.parametrize("capability, native, expected", [
    ((7, 5), False, False),  # T4 (Colab's free GPU): bf16 only emulated -> fp32 training
    ((7, 0), False, False),  # V100
    ((8, 0), True, True),  # A100
    ((9, 0), True, True),  # H100
])
def test_bf16_training_only_where_native(monkeypatch, capability, native, expected) -> None:
    import labkit.runtime as runtime

    monkeypatch.setattr(runtime.torch, "cuda", _FakeCuda(capability, native))
    assert native_bf16("cuda") is expected
    assert training_precision_name("cuda") == ("bf16 autocast + tf32" if expected else "fp32")


def test_training_on_the_cpu_is_plain_fp32() -> None:
    assert not native_bf16("cpu")
    before = fp32_modes()
    with training_precision("cpu") as autocast:
        with autocast():
            y = nn.Linear(4, 4)(torch.rand(2, 4))
        assert fp32_modes() == before
    assert y.dtype == torch.float32


def test_evaluation_inside_an_autocast_region_still_runs_in_fp32() -> None:
    """A training loop's bf16 autocast around an evaluation must not change the lab's numbers."""
    torch.manual_seed(0)
    model = lk.VGG(0.125).eval()
    x = torch.rand(8, 3, 32, 32)
    seen: list[torch.dtype] = []
    model.classifier.register_forward_hook(lambda m, i, out: seen.append(out.dtype))
    plain = lk.evaluate(model, [(x, torch.arange(8) % 10)], verbose=False)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        inside = lk.evaluate(model, [(x, torch.arange(8) % 10)], verbose=False)
        assert lk.check_same_function("same", model, model, x)
        assert model(x).dtype == torch.bfloat16  # the region itself is still autocast
    assert inside == plain and seen[:3] == [torch.float32] * 3
