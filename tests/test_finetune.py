"""fine_tune: the lab's recipe, best-epoch bookkeeping, masks kept, documented schedules."""

import pytest
import torch
from torch import nn

import labkit as lk
from labkit.finetune import _make_scheduler
from oracle import fine_grained_prune


pytestmark = pytest.mark.usefixtures("one_thread")


def tiny_setup(n: int = 32, batch: int = 8):
    torch.manual_seed(0)
    model = lk.VGG(0.125)
    x = torch.randn(n, 3, 32, 32)
    y = torch.randint(0, 10, (n,))
    batches = [(x[i:i + batch], y[i:i + batch]) for i in range(0, n, batch)]
    return model, batches


def test_history_and_best_state_are_loaded():
    model, batches = tiny_setup()
    history = lk.fine_tune(model, batches, batches, epochs=3, verbose=False)
    assert len(history.accuracies) == len(history.losses) == 3
    assert all(0.0 <= a <= 1.0 for a in history.accuracies)
    assert history.best_accuracy == max(history.accuracies)
    assert history.accuracies[history.best_epoch - 1] == history.best_accuracy
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in history.best_state_dict.items())
    assert lk.evaluate(model, batches, verbose=False) == history.best_accuracy


def test_masks_are_kept_with_the_pruner_callback():
    model, batches = tiny_setup()
    sparsity_dict = {n: 0.5 for n, _ in lk.prunable_parameters(model)}
    pruner = lk.FineGrainedPruner(model, sparsity_dict, fine_grained_prune)
    lk.fine_tune(model, batches, batches, epochs=2, callbacks=[lambda: pruner.apply(model)], verbose=False)
    params = dict(model.named_parameters())
    assert all(int(params[n][~m].count_nonzero()) == 0 for n, m in pruner.masks.items())


def test_verbose_prints_the_labs_epoch_lines(capsys):
    model, batches = tiny_setup(n=8)
    lk.fine_tune(model, batches, batches, epochs=2, verbose=True)
    lines = [ln for ln in capsys.readouterr().out.splitlines() if "Epoch" in ln]
    assert len(lines) == 2 and lines[0].startswith("    Epoch 1 Accuracy ") and "% / Best Accuracy: " in lines[0]


def lr_trace(schedule: str, epochs: int = 5, steps: int = 20) -> list[float]:
    optimizer = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.01)
    scheduler = _make_scheduler(optimizer, schedule, epochs, steps)
    lrs = []
    for _ in range(epochs * steps):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
    return lrs


def test_cosine_anneals_once_and_lab_schedule_cycles_every_10_iterations():
    cosine = lr_trace("cosine")
    assert cosine[0] == pytest.approx(0.01) and cosine[-1] < 1e-5
    assert all(a >= b for a, b in zip(cosine, cosine[1:]))  # monotone
    lab = lr_trace("lab")
    assert lab[5] == pytest.approx(0.0, abs=1e-12) and lab[10] == pytest.approx(0.01)
    assert lr_trace("constant") == [0.01] * 100


def test_bad_arguments_are_errors():
    model, batches = tiny_setup(n=8)
    with pytest.raises(ValueError, match="epochs"):
        lk.fine_tune(model, batches, batches, epochs=0)
    with pytest.raises(ValueError, match="schedule"):
        lk.fine_tune(model, batches, batches, schedule="step")
    with pytest.raises(ValueError, match="empty"):
        lk.fine_tune(model, [], batches)
