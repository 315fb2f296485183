"""Tests for labkit.checks: the notebook's self-checks print expected vs got and return a verdict."""

import matplotlib

matplotlib.use("Agg")

import pytest
import torch

import labkit as lk
from labkit.checks import LAB_TEST_MASK, LAB_TEST_TENSOR
from labkit.sparsity_targets import full_vgg_kept_parameters, tiny_sparsities
from labkit import checks

import oracle


def _prune_ge(tensor: torch.Tensor, sparsity: float) -> torch.Tensor:
    """A careless fine_grained_prune: keeps weights equal to the threshold (>= instead of >)."""
    k = round(sparsity * tensor.numel())
    importance = tensor.abs()
    mask = importance >= importance.flatten().kthvalue(k).values
    tensor.mul_(mask)
    return mask


def _prune_int(tensor: torch.Tensor, sparsity: float) -> torch.Tensor:
    """A careless fine_grained_prune: int() instead of round() for the number of zeros."""
    k = int(sparsity * tensor.numel())
    importance = tensor.abs()
    mask = importance > importance.flatten().kthvalue(k).values
    tensor.mul_(mask)
    return mask


def test_check_equal_prints_expected_and_got(capsys):
    assert lk.check_equal("channels", 45, 45)
    assert not lk.check_equal("channels", 45, 44)
    out = capsys.readouterr().out
    assert "expected 45, got 44 -> MISMATCH" in out


def test_check_close_tolerance_and_shapes(capsys):
    a = torch.tensor([1.0, 2.0])
    assert lk.check_close("x", a, a + 1e-7, rtol=0, atol=1e-6)
    assert not lk.check_close("x", a, a + 1e-3, rtol=0, atol=1e-6)
    assert not lk.check_close("x", a, torch.ones(3), rtol=1, atol=1)
    assert "expected shape (2,), got shape (3,)" in capsys.readouterr().out


def test_check_mask_names_the_differing_positions(capsys):
    expected = torch.tensor([[True, False], [False, True]])
    assert lk.check_mask(expected.float(), expected)  # 0/1 floats are accepted
    assert not lk.check_mask(torch.tensor([[True, True], [False, True]]), expected)
    assert "at (0, 1): expected pruned, got kept" in capsys.readouterr().out
    assert not lk.check_mask(torch.full((2, 2), 0.5), expected)  # not a mask
    assert not lk.check_mask(torch.ones(4, dtype=torch.bool), expected)  # wrong shape


def test_lab_example_mask_is_the_lab_s():
    # the lab's expected mask keeps the 6 largest magnitudes of its example
    assert int(LAB_TEST_MASK.sum()) == 6
    top6 = LAB_TEST_TENSOR.abs().flatten().topk(6).indices
    assert set(top6.tolist()) == set(LAB_TEST_MASK.flatten().nonzero().flatten().tolist())


def test_check_fine_grained_prune_passes_the_reference_and_fails_careless_versions(capsys):
    before = LAB_TEST_TENSOR.clone()
    assert lk.check_fine_grained_prune(oracle.fine_grained_prune, 0.75, plot=False)
    assert lk.check_fine_grained_prune(oracle.fine_grained_prune, 0.6, target_nonzeros=10, plot=False)
    assert not lk.check_fine_grained_prune(_prune_ge, 0.75, plot=False)
    assert not lk.check_fine_grained_prune(_prune_int, 0.75, plot=False)
    assert not lk.check_fine_grained_prune(oracle.fine_grained_prune, 0.5, target_nonzeros=10, plot=False)
    torch.testing.assert_close(LAB_TEST_TENSOR, before, rtol=0, atol=0)  # constant untouched
    out = capsys.readouterr().out
    assert "* Test passed." in out and "* Test failed." in out
    assert "sparsity after pruning: 0.76" in out  # the lab's printed value


def test_check_fine_grained_prune_plots_before_and_after():
    import matplotlib.pyplot as plt

    plt.close("all")
    lk.check_fine_grained_prune(oracle.fine_grained_prune, 0.75, plot=True)
    assert len(plt.gcf().axes) == 2
    plt.close("all")


@pytest.mark.parametrize("width", [1.0, 0.125])
def test_expected_macs_match_the_reference_channel_prune(width):
    model = lk.VGG(width)
    pruned = oracle.channel_prune(model, 0.3)
    assert checks.check_channel_prune_macs(pruned, model)
    assert not checks.check_channel_prune_macs(model, model)  # the dense model is not pruned


def test_check_channel_prune_macs_rejects_an_unknown_model():
    with pytest.raises(ValueError, match="no expected MACs"):
        checks.check_channel_prune_macs(lk.VGG(0.25), lk.VGG(0.25))


def test_check_same_function_restores_modes_and_detects_differences():
    torch.manual_seed(0)
    a = lk.VGG(0.125)
    a.train()
    x = torch.randn(2, 3, 32, 32)
    assert lk.check_same_function("same", a, oracle.apply_channel_sorting(a), x)
    assert a.training
    b = lk.VGG(0.125)
    assert not lk.check_same_function("different", a, b, x)


def _prune_wrong(tensor: torch.Tensor, sparsity: float) -> torch.Tensor:
    """A fine_grained_prune that prunes nothing."""
    return torch.ones_like(tensor, dtype=torch.bool)


@pytest.mark.parametrize("width", [1.0, 0.125])
def test_kept_widths_at_0_3_are_the_reference_keep_counts(width):
    model = lk.VGG(width)
    widths = tuple(model.widths)
    assert checks._KEPT_AT_03[widths] == tuple(oracle.get_num_channels_to_keep(w, 0.3) for w in widths[:-1])


def test_channel_prune_macs_check_names_a_wrong_keep_count_first(capsys):
    model = lk.VGG(0.125)
    pruned = oracle.channel_prune(model, 0.3)
    assert checks.check_channel_prune_macs(pruned, model, keep_fn=oracle.get_num_channels_to_keep)
    assert "cannot pass yet" not in capsys.readouterr().out
    truncating = lambda channels, ratio: int(channels * (1 - ratio))  # noqa: E731
    assert not checks.check_channel_prune_macs(pruned, model, keep_fn=truncating)
    out = capsys.readouterr().out
    assert "get_num_channels_to_keep is wrong, so this check cannot pass yet" in out
    assert "expected (6, 11, 22, 22, 45, 45, 45)" in out


def test_q3_check_says_when_fine_grained_prune_is_the_problem(capsys):
    assert not lk.check_fine_grained_prune(_prune_ge, 0.6, target_nonzeros=10, plot=False)
    assert "fine_grained_prune does not pass Q2's check yet" in capsys.readouterr().out
    assert not lk.check_fine_grained_prune(oracle.fine_grained_prune, 0.5, target_nonzeros=10, plot=False)
    assert "does not pass Q2's check" not in capsys.readouterr().out  # Q3's own answer is wrong


# ---- Q5: size and accuracy targets ---------------------------------------------------------
NAMES = [f"backbone.conv{i}.weight" for i in range(8)] + ["classifier.weight"]
# The Q5 calibration table of BENCHMARKS.md: dict (conv0..conv7, classifier) -> (full-model size,
# passes the size test, passes the accuracy test)
Q5_TABLE = {
    "solution": ([0, .4, .5, .6, .7, .8, .8, .8, 0], 0.2394, True, True),
    "CalebDu": ([.5, .7, .8, .8, .8, .8, .7, .9, .9], 0.2013, True, True),
    "hsylin": ([0, 0, 0, .7, .7, .8, .8, .9, 0], 0.2266, True, True),
    "cilinmengye": ([.4, .7, .6, .6, .6, .743, .742, .9, .9], 0.2499, True, True),
    "guanshantingbai": ([.5, .8, .8, .7, .6, .7, .7, .8, 0], 0.2841, False, True),
    "careless conv0=0.9, rest solution": ([.9, .4, .5, .6, .7, .8, .8, .8, 0], 0.2393, True, False),
    "careless conv0=0.9, rest CalebDu": ([.9, .7, .8, .8, .8, .8, .7, .9, .9], 0.2012, True, False),
    "careless conv0=0.8, rest CalebDu": ([.8, .7, .8, .8, .8, .8, .7, .9, .9], 0.2012, True, False),
    "careless conv4=0.9, rest solution": ([0, .4, .5, .6, .9, .8, .8, .8, 0], 0.2139, True, False),
    "uniform 0.75": ([.75] * 9, 0.2504, False, False),
}


@pytest.mark.parametrize("case", list(Q5_TABLE))
def test_size_check_is_the_exact_full_vgg_count(case, capsys):
    values, size, size_ok, _ = Q5_TABLE[case]
    d = dict(zip(NAMES, values))
    kept, dense = full_vgg_kept_parameters(d)
    assert dense == 9_228_362
    assert kept / dense == pytest.approx(size, abs=5e-5)
    assert kept == 5_514 + sum(p.numel() - round(s * p.numel()) for s, (_, p) in zip(values, lk.prunable_parameters(
        lk.VGG().to("meta"))))
    assert lk.check_sparsity_size(d) is size_ok
    assert f"{size:.2%}" in capsys.readouterr().out


def test_sparsity_checks_report_placeholders_and_bad_keys_without_raising(capsys):
    template = {name: ... for name in NAMES}
    assert lk.check_sparsity_size(template) is False
    assert lk.check_sparsity_accuracy(template, oracle.fine_grained_prune) is False
    assert lk.check_sparsity_dict(template, oracle.fine_grained_prune) is False
    out = capsys.readouterr().out
    assert "replace each ... by a sparsity in [0, 1]" in out
    assert lk.check_sparsity_size({"backbone.conv0.weight": 0.5}) is False
    assert "missing key" in capsys.readouterr().out
    assert lk.check_sparsity_size(dict.fromkeys(NAMES, 1.5)) is False
    assert "must be a number in [0, 1]" in capsys.readouterr().out


def test_tiny_translation_keeps_zero_and_moves_to_the_same_damage():
    from labkit import sparsity_targets as st

    assert tiny_sparsities(dict.fromkeys(NAMES, 0.0)) == dict.fromkeys(NAMES, 0.0)
    for case in ("solution", "CalebDu", "careless conv0=0.9, rest solution"):
        d = dict(zip(NAMES, Q5_TABLE[case][0]))
        tiny = tiny_sparsities(d)
        for name, s in d.items():
            if s == 0:
                continue
            full_share = st._curve(st.FULL_CURVES[name], s)  # share of accuracy the full layer keeps
            tiny_share = st._curve(st.TINY_CURVES[name], tiny[name])
            assert tiny_share == pytest.approx(full_share, abs=2e-3), (case, name, s, tiny[name])


def test_sparsity_dict_check_names_a_wrong_fine_grained_prune_first(capsys):
    d = dict(zip(NAMES, Q5_TABLE["solution"][0]))
    assert lk.check_sparsity_dict(d, _prune_wrong) is False
    out = capsys.readouterr().out
    assert "size:" in out and "-> ok" in out
    assert "fine_grained_prune does not pass Q2's check yet, so this check cannot pass yet" in out


def _rng_states(loader) -> tuple:
    import random

    import numpy as np

    return (random.getstate(), np.random.get_state()[1].tolist(), torch.get_rng_state(),
            loader.generator.get_state())


def test_q5_accuracy_check_leaves_every_random_state_as_it_found_it(tiny_checkpoint):
    """Python, NumPy and torch generators and the training loader's generator are untouched."""
    import random

    import numpy as np

    loaders = lk.make_loaders(tiny_checkpoint, train_subset=1000, test_subset=500, fast=True)
    random.seed(1)
    np.random.seed(2)
    torch.manual_seed(3)
    next(iter(loaders["train"]))  # a loader part-way through its random stream
    before = _rng_states(loaders["train"])
    d = dict(zip(NAMES, Q5_TABLE["solution"][0]))
    assert lk.check_sparsity_accuracy(d, oracle.fine_grained_prune, device="cpu")
    after = _rng_states(loaders["train"])
    assert before[0] == after[0], "Python's random state changed"
    assert before[1] == after[1], "NumPy's random state changed"
    assert torch.equal(before[2], after[2]), "torch's random state changed"
    assert torch.equal(before[3], after[3]), "the training loader's generator changed"


def _hidden_q5(sparsity_dict) -> tuple[bool, bool]:
    """Run the source notebook's two Q5 test cells (hidden parts included) on a dict."""
    import nbformat

    from labkit_course.release import default_course_dir

    nb = nbformat.read(default_course_dir() / "source" / "lab1" / "lab1.ipynb", as_version=4)
    cells = {c.metadata.get("nbgrader", {}).get("grade_id"): c.source for c in nb.cells}
    results = []
    for gid in ("q5_test_size", "q5_test_accuracy"):
        namespace = {"lk": lk, "torch": torch, "sparsity_dict": sparsity_dict}
        try:
            exec(compile(cells[gid], gid, "exec"), namespace)
            results.append(True)
        except AssertionError:
            results.append(False)
    return results[0], results[1]


@pytest.mark.slow
@pytest.mark.parametrize("case", ["solution", "CalebDu", "guanshantingbai", "careless conv0=0.9, rest solution",
                                  "uniform 0.75"])
def test_check_sparsity_dict_agrees_with_the_hidden_q5_tests(case, tiny_checkpoint, capsys):
    values, _, size_ok, accuracy_ok = Q5_TABLE[case]
    d = dict(zip(NAMES, values))
    hidden = _hidden_q5(d)
    assert hidden == (size_ok, accuracy_ok), f"{case}: hidden tests give {hidden}"
    assert lk.check_sparsity_dict(d, oracle.fine_grained_prune) is (size_ok and accuracy_ok)
    out = capsys.readouterr().out
    assert out.count("size:") == 2 and out.count("accuracy:") == 2  # hidden test and self-check


def test_the_self_check_leaves_q5_accuracy_to_the_hidden_test_on_the_fast_grading_path(
        monkeypatch, capsys):
    """Graded on the fast path, the notebook's Q5 self-check prints the size check and does not
    run the accuracy check a second time (the hidden test q5_test_accuracy runs it)."""
    import labkit.sparsity_targets as st

    ran = []
    monkeypatch.setattr(st, "check_sparsity_accuracy", lambda *a, **k: ran.append(a) or True)
    good = dict(zip(NAMES, Q5_TABLE["solution"][0]))
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    assert lk.check_sparsity_dict(good, oracle.fine_grained_prune) is True and ran  # the plain path
    ran.clear()
    monkeypatch.setenv("LABKIT_FAST_GRADING", "1")
    assert lk.check_sparsity_dict(good, oracle.fine_grained_prune) is True and not ran
    assert "accuracy test runs it next" in capsys.readouterr().out
    dense = {name: 0.0 for name in NAMES}  # keeps 100% of the size: the size check still fails
    assert lk.check_sparsity_dict(dense, oracle.fine_grained_prune) is False and not ran


def test_with_dependency_swaps_what_a_function_calls_and_restores_it():
    ns: dict = {}
    exec("def keep(c, r):\n    return 0\n\ndef prune(c):\n    return keep(c, 0.5)\n", ns)
    with lk.with_dependency(ns["prune"], "keep", lambda c, r: round(c * (1 - r))):
        assert ns["prune"](10) == 5
    assert ns["prune"](10) == 0  # the student's own again
    del ns["keep"]
    with pytest.raises(RuntimeError, match="boom"):  # restored even when the test fails
        with lk.with_dependency(ns["prune"], "keep", lambda c, r: 7):
            assert ns["prune"](10) == 7
            raise RuntimeError("boom")
    assert "keep" not in ns  # absent before, absent after
