"""The lab's train/evaluate loops on CPU (labkit/training.py)."""

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import labkit as lk


def _toy_loader(n=64, batch_size=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 3, 32, 32, generator=g)
    y = (x[:, 0].mean(dim=(1, 2)) > 0.5).long()  # learnable from the red channel
    return DataLoader(TensorDataset(x, y), batch_size=batch_size)


def test_train_calls_callbacks_after_every_optimizer_step():
    torch.manual_seed(0)
    model = lk.VGG(0.125)
    loader = _toy_loader()
    # momentum keeps moving a zeroed filter: the classic way masks get lost
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    weight = model.backbone.conv0.weight
    seen = []

    def callback():  # runs after optimizer.step(): zeroing here must stick until the next step
        seen.append(weight.detach().clone())
        with torch.no_grad():
            weight[0].zero_()

    lk.train(model, loader, nn.CrossEntropyLoss(), optimizer, callbacks=[callback], verbose=False)
    assert len(seen) == len(loader)
    assert all(not torch.equal(s[0], torch.zeros_like(s[0])) for s in seen[1:])  # the step moved it
    assert torch.count_nonzero(weight[0]) == 0


def test_train_steps_the_scheduler_per_iteration_and_restores_mode():
    model = lk.VGG(0.125).eval()
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    lk.train(model, _toy_loader(), nn.CrossEntropyLoss(), optimizer, scheduler, verbose=False)
    assert optimizer.param_groups[0]["lr"] == 0.5**4  # 4 batches
    assert not model.training


def test_training_reduces_the_loss():
    torch.manual_seed(0)
    model = lk.VGG(0.125)
    loader = _toy_loader(n=128)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    losses = [lk.train(model, loader, nn.CrossEntropyLoss(), optimizer, verbose=False) for _ in range(4)]
    assert losses[-1] < losses[0]


class _Constant(nn.Module):
    """Always predicts class ``k``."""

    def __init__(self, k):
        super().__init__()
        self.k = k
        self.p = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        logits = torch.zeros(x.shape[0], 10)
        logits[:, self.k] = 1
        return logits + 0 * self.p


def test_evaluate_returns_a_fraction_and_restores_mode():
    labels = torch.tensor([3, 3, 1, 3, 0, 3, 3, 2])
    loader = DataLoader(TensorDataset(torch.zeros(8, 3, 32, 32), labels), batch_size=3)
    model = _Constant(3).train()
    assert lk.evaluate(model, loader, verbose=False) == 5 / 8
    assert model.training


def test_evaluate_refuses_an_empty_loader():
    loader = DataLoader(TensorDataset(torch.zeros(0, 3, 32, 32), torch.zeros(0, dtype=torch.long)))
    with pytest.raises(ValueError, match="empty"):
        lk.evaluate(_Constant(0), loader, verbose=False)
