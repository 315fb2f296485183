"""FineGrainedPruner and sparsity-dict validation, with torch.nn.utils.prune as the oracle."""

import copy

import pytest
import torch
from torch import nn
from torch.nn.utils import prune

import labkit as lk
from oracle import fine_grained_prune

NAMES = [f"backbone.conv{i}.weight" for i in range(8)] + ["classifier.weight"]
SEED_DICT = dict(zip(NAMES, [0, 0.6, 0.5, 0.5, 0.5, 0.6, 0.6, 0.75, 0]))


pytestmark = pytest.mark.usefixtures("one_thread")


def tiny_model(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return lk.VGG(0.125)


def tiny_batches(n: int = 16, batch: int = 8, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 3, 32, 32, generator=g)
    y = torch.randint(0, 10, (n,), generator=g)
    return [(x[i:i + batch], y[i:i + batch]) for i in range(0, n, batch)]


def test_masks_match_l1_unstructured_on_tie_free_tensors():
    model = tiny_model()
    sparsities = dict(zip(NAMES, [0.3, 0.45, 0.5, 0.55, 0.6, 0.7, 0.8, 0.9, 0.25]))
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():  # distinct magnitudes k/n with random signs: no ties
        for _, p in lk.prunable_parameters(model):
            n = p.numel()
            signs = torch.randint(0, 2, (n,), generator=g) * 2 - 1
            p.copy_(((torch.randperm(n, generator=g) + 1) * signs / n).view_as(p))
            assert p.detach().abs().unique().numel() == n
    reference = copy.deepcopy(model)
    pruner = lk.FineGrainedPruner(model, sparsities, fine_grained_prune)
    modules = dict(reference.named_modules())
    for name, sparsity in sparsities.items():
        module = modules[name.rsplit(".", 1)[0]]
        prune.l1_unstructured(module, "weight", amount=sparsity)
        assert pruner.masks[name].dtype == torch.bool
        assert torch.equal(pruner.masks[name], module.weight_mask.bool()), name
        assert torch.equal(dict(model.named_parameters())[name], module.weight), name


def test_seed_sparsity_dict_prunes_full_vgg_to_38_48_percent():
    torch.manual_seed(0)
    model = lk.VGG()
    with torch.no_grad():  # fresh BN biases are exactly 0; a trained model's are not
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.bias.uniform_(0.1, 1.0)
    dense = lk.get_model_size(model)
    lk.FineGrainedPruner(model, SEED_DICT, fine_grained_prune)
    ratio = lk.get_model_size(model, count_nonzero_only=True) / dense
    assert f"{ratio:.2%}" == "38.48%"


@pytest.mark.parametrize("change, error, needle", [
    (lambda d: d.pop("backbone.conv3.weight"), KeyError, "backbone.conv3.weight"),
    (lambda d: d.update({"backbone.bn0.weight": 0.5}), KeyError, "backbone.bn0.weight"),
    (lambda d: d.update({"backbone.conv1.weight": 1.5}), ValueError, "1.5"),
    (lambda d: d.update({"backbone.conv1.weight": -0.1}), ValueError, "-0.1"),
    (lambda d: d.update({"backbone.conv1.weight": "0.5"}), ValueError, "backbone.conv1.weight"),
    (lambda d: d.update({"backbone.conv1.weight": True}), ValueError, "backbone.conv1.weight"),
])
def test_bad_sparsity_dicts_name_the_key_or_value(change, error, needle):
    model = tiny_model()
    before = copy.deepcopy(model.state_dict())
    sparsity_dict = dict(SEED_DICT)
    change(sparsity_dict)
    with pytest.raises(error, match=needle.replace(".", r"\.")):
        lk.FineGrainedPruner(model, sparsity_dict, fine_grained_prune)
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())  # nothing pruned


def test_prune_fn_that_returns_nothing_or_a_bad_shape_is_named():
    def forgot_return(tensor, sparsity):
        fine_grained_prune(tensor, sparsity)

    def flat_mask(tensor, sparsity):
        return fine_grained_prune(tensor, sparsity).view(-1)

    with pytest.raises(TypeError, match="forgot_return"):
        lk.FineGrainedPruner(tiny_model(), SEED_DICT, forgot_return)
    with pytest.raises(ValueError, match="flat_mask.*shape"):
        lk.FineGrainedPruner(tiny_model(), SEED_DICT, flat_mask)


def test_dense_entries_give_all_true_bool_masks():
    model = tiny_model()
    pruner = lk.FineGrainedPruner(model, SEED_DICT, fine_grained_prune)
    assert pruner.masks["backbone.conv0.weight"].dtype == torch.bool
    assert pruner.masks["backbone.conv0.weight"].all()
    assert set(pruner.masks) == set(NAMES)


def _fine_tune_steps(model, optimizer, callbacks, steps=3):
    criterion = nn.CrossEntropyLoss()
    for _ in range(steps):
        lk.train(model, tiny_batches(), criterion, optimizer, callbacks=callbacks, verbose=False)


@pytest.mark.parametrize("make_optimizer", [
    lambda params: torch.optim.SGD(params, lr=0.05, momentum=0.9, weight_decay=1e-4),
    lambda params: torch.optim.AdamW(params, lr=1e-3, weight_decay=1e-2),
], ids=["sgd", "adamw"])
def test_masks_survive_fine_tuning_only_when_applied_after_each_step(make_optimizer):
    for apply in (True, False):
        model = tiny_model()
        pruner = lk.FineGrainedPruner(model, SEED_DICT, fine_grained_prune)
        optimizer = make_optimizer(model.parameters())
        callbacks = [lambda: pruner.apply(model)] if apply else None
        _fine_tune_steps(model, optimizer, callbacks)
        params = dict(model.named_parameters())
        revived = sum(int(params[n][~m].count_nonzero()) for n, m in pruner.masks.items())
        if apply:
            assert revived == 0
        else:  # the classic bug this guards against: momentum/decay revive pruned weights
            assert revived > 0


def test_apply_on_another_model_is_a_clear_error():
    pruner = lk.FineGrainedPruner(tiny_model(), SEED_DICT, fine_grained_prune)
    with pytest.raises(KeyError, match="backbone.conv0.weight"):
        pruner.apply(nn.Linear(3, 3))
