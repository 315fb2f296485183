"""Sensitivity scans: the fast scan equals the lab's loop exactly and always restores the model."""

import pytest
import torch
from torch import nn

import labkit as lk
from labkit.sensitivity import naive_sensitivity_scan, plan_scan, scan_sparsities
from oracle import fine_grained_prune


pytestmark = pytest.mark.usefixtures("one_thread")


def model_and_batches(width: float = 0.125, n: int = 30, batch: int = 8, seed: int = 0):
    """A seeded VGG and images labelled with its own predictions: accuracy = agreement with dense.

    He-initialised weights and zero-mean images, so predictions vary and pruning changes them.
    """
    torch.manual_seed(seed)
    model = lk.VGG(width).eval()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
        model.classifier.bias.zero_()
    x = torch.randn(n, 3, 32, 32)
    with torch.no_grad():
        y = model(x).argmax(1)
    return model, [(x[i:i + batch], y[i:i + batch]) for i in range(0, n, batch)]


def snapshot(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def assert_same_state(model, before):
    after = model.state_dict()
    assert all(torch.equal(v, after[k]) for k, v in before.items())


@pytest.mark.parametrize("stack", [True, False], ids=["stacked", "per-sparsity"])
def test_scan_equals_naive_loop_exactly(stack):
    model, batches = model_and_batches()
    before = snapshot(model)
    naive = naive_sensitivity_scan(model, batches, fine_grained_prune, verbose=False)
    fast = lk.sensitivity_scan(model, batches, fine_grained_prune, verbose=False, stack_sparsities=stack)
    assert fast.sparsities == naive.sparsities == [0.4, 0.5, 0.6, 0.7, 0.8, 0.9]
    assert list(fast.accuracies) == [n for n, _ in lk.prunable_parameters(model)]
    assert fast.accuracies == naive.accuracies  # identical floats, not approximately equal
    assert len({a for accs in naive.accuracies.values() for a in accs}) > 5  # the check has teeth
    assert_same_state(model, before)
    assert not model.training


@pytest.mark.slow
def test_scan_equals_naive_loop_on_the_full_vgg():
    model, batches = model_and_batches(width=1.0, n=7, batch=4)
    naive = naive_sensitivity_scan(model, batches, fine_grained_prune, verbose=False)
    fast = lk.sensitivity_scan(model, batches, fine_grained_prune, verbose=False)
    assert fast.accuracies == naive.accuracies


def test_scan_restores_train_mode_and_falls_back_for_other_models():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, 16), nn.ReLU(), nn.Linear(16, 10))
    batches = model_and_batches(n=32)[1]
    naive = naive_sensitivity_scan(model, batches, fine_grained_prune, scan_step=0.2, verbose=False)
    fast = lk.sensitivity_scan(model, batches, fine_grained_prune, scan_step=0.2, verbose=False)
    assert fast == naive
    assert model.training  # evaluate() restores the mode


@pytest.mark.parametrize("stack", [True, False], ids=["stacked", "per-sparsity"])
def test_keyboard_interrupt_mid_scan_restores_every_weight(stack):
    model, batches = model_and_batches()
    model.train()
    before = snapshot(model)
    calls = {"n": 0}

    def interrupt(module, inputs, output):  # fires while conv3 runs with pruned weights
        calls["n"] += 1
        if calls["n"] == 5:
            raise KeyboardInterrupt

    handle = model.backbone.conv4.register_forward_hook(interrupt)
    with pytest.raises(KeyboardInterrupt):
        lk.sensitivity_scan(model, batches, fine_grained_prune, verbose=False, stack_sparsities=stack)
    handle.remove()
    assert calls["n"] == 5
    assert_same_state(model, before)
    assert model.training


def test_naive_scan_restores_after_interrupt_in_prune_fn():
    model, batches = model_and_batches()
    before = snapshot(model)

    def prune_then_interrupt(tensor, sparsity):
        fine_grained_prune(tensor, sparsity)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        naive_sensitivity_scan(model, batches, prune_then_interrupt, verbose=False)
    assert_same_state(model, before)


def test_shuffling_loader_is_refused():
    model, batches = model_and_batches(n=16)
    x = torch.cat([b[0] for b in batches])
    y = torch.cat([b[1] for b in batches])
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=8, shuffle=True)
    with pytest.raises(ValueError, match="shuffle=False"):
        lk.sensitivity_scan(model, loader, fine_grained_prune, verbose=False)


def test_scan_sparsities_like_arange_and_validated():
    assert scan_sparsities() == [0.4, 0.5, 0.6, 0.7, 0.8, 0.9]
    assert scan_sparsities(0.25, 0.0, 1.0) == [0.0, 0.25, 0.5, 0.75]
    for bad in [dict(scan_step=0), dict(scan_start=0.9, scan_end=0.5), dict(scan_end=1.5)]:
        with pytest.raises(ValueError):
            scan_sparsities(**bad)


def test_parallel_cpu_workers_are_exact_and_restore_the_thread_count():
    model, batches = model_and_batches()
    naive = naive_sensitivity_scan(model, batches, fine_grained_prune, verbose=False)
    torch.set_num_threads(2)  # the scan then runs batches on 2 single-threaded workers
    fast = lk.sensitivity_scan(model, batches, fine_grained_prune, verbose=False)
    assert fast.accuracies == naive.accuracies
    assert torch.get_num_threads() == 2


def test_keyboard_interrupt_in_a_worker_restores_weights_and_threads():
    torch.set_num_threads(2)
    model, batches = model_and_batches()
    before = snapshot(model)
    calls = {"n": 0}

    def interrupt(module, inputs, output):
        calls["n"] += 1
        if calls["n"] == 7:
            raise KeyboardInterrupt

    model.backbone.conv5.register_forward_hook(interrupt)
    with pytest.raises(KeyboardInterrupt):
        lk.sensitivity_scan(model, batches, fine_grained_prune, verbose=False)
    assert_same_state(model, before)
    assert torch.get_num_threads() == 2


@pytest.mark.slow
def test_a_small_memory_budget_chunks_the_set_and_splits_batches_exactly():
    """Chunks of whole batches, fewer workers and split stacked batches: the same floats."""
    model, batches = model_and_batches(n=40, batch=8)
    naive = naive_sensitivity_scan(model, batches, fine_grained_prune, verbose=False)
    torch.set_num_threads(2)
    stages = lk.sensitivity._vgg_stages(model)
    starts = [lk.sensitivity._owner_stage(model, n) for n, _ in lk.prunable_parameters(model)]
    sizes = [int(y.shape[0]) for _, y in batches]
    # 1 MiB: the cache holds 8 images (64 KiB each, twice): 5 chunks of one batch
    plan = plan_scan(stages, starts, sizes, 6, batches[0][0], stack=False, threads=1, budget=1 << 20)
    cache, _ = plan.per_image
    assert plan.chunks == [[0], [1], [2], [3], [4]] and 8 * cache <= (1 << 20) // 2
    fast = lk.sensitivity_scan(model, batches, fine_grained_prune, verbose=False,
                               stack_sparsities=False, memory_budget=1 << 20)
    assert fast.accuracies == naive.accuracies
    # 16 MiB: one chunk, but 6 sparsities x 8 images do not fit: 2 workers on pieces of 3
    plan = plan_scan(stages, starts, sizes, 6, batches[0][0], stack=True, threads=2, budget=16 << 20)
    _, stack = plan.per_image
    assert len(plan.chunks) == 1 and (plan.workers, plan.sub_batch) == (2, 3)
    assert plan.workers * plan.sub_batch * stack <= (16 << 20) // 2 < 8 * stack
    fast = lk.sensitivity_scan(model, batches, fine_grained_prune, verbose=False, memory_budget=16 << 20)
    assert fast.accuracies == naive.accuracies
    assert torch.get_num_threads() == 2


def test_the_full_vgg_scan_on_10k_images_keeps_to_its_budget():
    """The lab's scan (10,000 test images in batches of 512, 6 sparsities) planned for 4 GiB:
    one worker per thread would need ~4.6 GiB each; the plan keeps the cache and the stacks
    within the budget (no compute: only the plan)."""
    model = lk.VGG().eval()
    stages = lk.sensitivity._vgg_stages(model)
    starts = [lk.sensitivity._owner_stage(model, n) for n, _ in lk.prunable_parameters(model)]
    sizes = [512] * 19 + [10_000 - 19 * 512]
    budget = 4 << 30
    plan = plan_scan(stages, starts, sizes, 6, torch.rand(1, 3, 32, 32), stack=True, threads=8, budget=budget)
    cache, stack = plan.per_image
    assert 10_000 * cache > budget // 2  # the whole set would not fit: chunked
    assert len(plan.chunks) > 1 and all(sum(sizes[k] for k in c) * cache <= budget // 2 for c in plan.chunks)
    assert plan.workers * (plan.sub_batch or 512) * stack <= budget // 2 < 8 * 512 * stack
    roomy = plan_scan(stages, starts, sizes, 6, torch.rand(1, 3, 32, 32), stack=False, threads=1, budget=64 << 30)
    assert len(roomy.chunks) == 1 and roomy.workers == 1 and roomy.sub_batch == 0
