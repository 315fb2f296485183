# %% [markdown]
# # Lab 1: Pruning
#
# This notebook is the lab kit's version of MIT 6.5940 (EfficientML.ai) Lab 1. You will prune a
# VGG network trained on CIFAR-10 in two ways, fine-grained (individual weights) and channel
# pruning (whole channels), and measure what each buys you in model size, computation (MACs)
# and latency, and what it costs in accuracy.
#
# **Goals**
#
# - understand the basic idea of pruning;
# - implement and apply fine-grained pruning;
# - implement and apply channel pruning;
# - get a basic feel for the speed-up that pruning gives;
# - understand the differences and trade-offs between the two kinds of pruning.
#
# **Contents.** There are 9 questions (100 points): Q1-Q5 are about fine-grained pruning, Q6-Q8
# about channel pruning, Q9 compares the two.
#
# | question | Q1 | Q2 | Q3 | Q4 | Q5 | Q6 | Q7 | Q8 | Q9 |
# |---|---|---|---|---|---|---|---|---|---|
# | points | 10 | 15 | 5 | 15 | 10 | 10 | 15 | 10 | 10 |
# | graded | by hand | automatically | automatically | by hand | automatically | automatically | automatically | by hand | by hand |
#
# **How this notebook is graded.** Code questions (Q2, Q3, Q5, Q6, Q7; 55 points) are followed by
# test cells that start with a one-line description of what they check. The visible part of each
# test runs when you run the cell, so you can check your work as you go; the autograder adds
# *hidden* checks of cases the visible ones do not cover (edge cases, other shapes, other ratios),
# so make your code correct in general, not just for the examples. Each test grades one function:
# where your function calls another of yours, the test puts a correct version of that other one in
# its place, so one mistake costs points once. Written answers (Q1, Q4, Q8, Q9; 45 points) are read
# by a person. Do not delete or copy the test cells.
#
# The autograder runs your notebook on a small model with small data, to grade it in about a
# minute, so the numbers it sees (accuracies, timings) differ from yours; the tests check what your
# code does, not those numbers.

# %% [markdown]
# # Setup
#
# The helper package `labkit` (imported as `lk`) holds everything that is not an exercise: the
# model, the data, the training loop, plots and measurements. Each cell that calls it is short, so
# you can read what happens; `help(lk.<name>)` shows the details. The first cell below installs
# labkit from the wheel next to this notebook when it is not installed yet (on Colab: upload the
# notebook and the `labkit-*.whl` file together); otherwise it does nothing.
#
# `lk.setup()` picks a **profile** and says which one and why:
#
# - **full**: the lab's VGG (9.2 M parameters) with its pretrained checkpoint and real CIFAR-10.
#   This needs the data, the checkpoint and a GPU (`labkit fetch` downloads the first two).
# - **tiny**: the same network with 1/8 of the channels, trained on a small synthetic
#   CIFAR-10-like data set. Everything runs on a laptop CPU in minutes; the numbers differ from
#   the lab's, the lessons do not.
#
# The notebook runs unchanged on either profile and on CPU or GPU.

# %%
# Install labkit from the wheel next to this notebook if it is not installed yet; otherwise nothing.
try:
    import labkit
except ImportError:
    import glob, importlib, subprocess, sys
    wheels = sorted(glob.glob("labkit-*.whl"))
    if len(wheels) != 1:
        raise RuntimeError(f"labkit is not installed, and {len(wheels)} labkit-*.whl files are next to this notebook "
                           "(need exactly one): put the wheel from the course bundle next to the notebook")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", wheels[0]], check=True)
    importlib.invalidate_caches()

# %% nbgrader={"grade": false, "grade_id": "setup", "locked": true, "schema_version": 3, "solution": false}
import copy
from typing import List, Union

import torch
from torch import nn

import labkit as lk

lk.seed_everything(0)
lab = lk.setup()  # prints the profile, the device and why they were chosen
model, dataloader, device = lab.model, lab.dataloader, lab.device

# %% [markdown]
# # Accuracy and size of the dense model
#
# Before pruning anything, measure the starting point: the top-1 accuracy of the dense (unpruned)
# model on the test set, and its size. `lk.evaluate` returns accuracy as a fraction (0.93, printed
# as 93.00%); `lk.get_model_size` returns bits, so divide by `lk.MiB` (mebibytes, in bits) to print.

# %%
dense_model_accuracy = lk.evaluate(model, dataloader["test"])
dense_model_size = lk.get_model_size(model)
print(f"dense model has accuracy={dense_model_accuracy:.2%}")
print(f"dense model has size={dense_model_size / lk.MiB:.2f} MiB")

# %% [markdown]
# The lab's full VGG reaches about 93% on CIFAR-10 and takes about 35 MiB in 32-bit floats. That
# is a lot for a network that reads 32x32 images, and too much for many phones and
# microcontrollers. Pruning aims to shrink the model while keeping its accuracy.
#
# # The distribution of weight values
#
# Before deciding which weights to remove, look at them. The histograms below show, for each
# weight tensor with more than one dimension (the 8 convolutions and the classifier), how its
# values are distributed.

# %%
ax = lk.plot_weight_distribution(model, bins=256)


# %% [markdown]
# ## Question 1 (10 pts)
#
# Look at the histograms above.
#
# **1.1 (5 pts)** What do the weight distributions of the different layers have in common?
#
# **1.2 (5 pts)** How do these characteristics help pruning?

# %% [markdown] nbgrader={"grade": true, "grade_id": "q1_answer", "locked": false, "points": 10, "schema_version": 3, "solution": true}
# **Your answer:**
#
# ### BEGIN SOLUTION
# 1.1 Every layer's weights are centred on zero and roughly symmetric, bell-shaped with a sharp
# peak: most weights are very small in magnitude and only a few are large (long, thin tails). The
# larger layers have narrower distributions.
#
# 1.2 Because most weights are close to zero, removing them (setting them to exactly zero) changes
# each layer's output very little, so a large fraction of weights can be pruned by magnitude with a
# small loss of accuracy, which fine-tuning can then recover.
#
# **Mark scheme (for graders; removed from the release):**
# 1.1 (5): centred at 0 / symmetric (2); most weights small, few large, peaked with long tails (3).
# 1.2 (5): small-magnitude weights contribute little to the output (3), so many can be set to zero
# with little accuracy loss (magnitude is a sensible importance) (2).
# ### END SOLUTION

# %% [markdown]
# # Fine-grained pruning
#
# Fine-grained (unstructured) pruning removes individual weights, anywhere in a tensor. For a weight
# tensor $W$ with $\#W$ entries and a target **sparsity** $s$ (the fraction of entries that become
# zero):
#
# - the number of zeros is $n_{zeros} = \mathrm{round}(s \cdot \#W)$;
# - each weight gets an **importance**; here its magnitude, $|W|$ (Han et al., *Learning both
#   Weights and Connections for Efficient Neural Networks*, 2015);
# - the **threshold** is the $n_{zeros}$-th smallest importance, $v_{thr} = \mathrm{kthvalue}(|W|, n_{zeros})$;
# - the **mask** keeps the weights strictly above it, $M = |W| > v_{thr}$, so every weight at or
#   below the threshold (ties included) is removed;
# - the pruned tensor is $W \odot M$ (element-wise product).
#
# The mask is what lets us keep the weights pruned later: while fine-tuning, every update is
# followed by multiplying the weights with the mask again.
#
# ## Question 2 (15 pts)
#
# Complete `fine_grained_prune` below: replace `# YOUR CODE HERE` and `raise NotImplementedError()`
# with steps 1 to 4; the comments above them say what each step computes and which variable it
# defines (`num_zeros`, `importance`, `threshold`, `mask`). The edge cases (sparsity 0 and 1,
# invalid values) and step 5 are written for you. The function **changes `tensor` in
# place** and **returns the mask** (a boolean tensor shaped like `tensor`).
#
# Hints: `round()` (not `int()`, which always rounds down); `Tensor.abs()`;
# `torch.kthvalue(input, k)` on the flattened importance (`k` counts from 1); `torch.gt` or `>`.

# %% nbgrader={"grade": false, "grade_id": "q2_fine_grained_prune", "locked": false, "schema_version": 3, "solution": true}
def fine_grained_prune(tensor: torch.Tensor, sparsity: float) -> torch.Tensor:
    """Magnitude-prune ``tensor`` in place to ``sparsity`` and return the mask.

    Args:
        tensor: weights of any shape, e.g. a conv weight (C_out, C_in, kH, kW); changed in place.
        sparsity: fraction of entries to set to zero, in [0, 1].

    Returns:
        mask: bool tensor shaped like ``tensor``; True where the weight is kept.
    """
    if not 0.0 <= sparsity <= 1.0:
        raise ValueError(f"sparsity={sparsity} must be in [0, 1]")
    if sparsity == 1.0:
        tensor.zero_()
        return torch.zeros_like(tensor, dtype=torch.bool)
    if sparsity == 0.0:
        return torch.ones_like(tensor, dtype=torch.bool)
    num_elements = tensor.numel()

    # Step 1: num_zeros = the number of entries that become zero, sparsity * num_elements
    #         rounded to the nearest integer (please use round(); int() always rounds down)
    # Step 2: importance = the importance of each weight: its magnitude (torch.abs, Tensor.abs)
    # Step 3: threshold = the num_zeros-th smallest importance
    #         (torch.kthvalue on the flattened importance; its k counts from 1, not 0)
    # Step 4: mask = the binary mask: True where importance > threshold, strictly (torch.gt),
    #         False where the weight is pruned; shaped like tensor
    ### BEGIN SOLUTION
    num_zeros = round(num_elements * sparsity)
    importance = tensor.abs()
    threshold = importance.flatten().kthvalue(num_zeros).values
    mask = torch.gt(importance, threshold)
    ### END SOLUTION

    # Step 5: prune in place and return the mask
    tensor.mul_(mask)
    return mask


# %% [markdown]
# Check your function on the lab's 5x5 example at sparsity 0.75 (19 of the 25 entries become
# zero). The plot shows the tensor before and after pruning, with zeros shaded.

# %%
lk.check_fine_grained_prune(fine_grained_prune, target_sparsity=0.75)

# %% nbgrader={"grade": true, "grade_id": "q2_test_lab_example", "locked": true, "points": 3, "schema_version": 3, "solution": false}
"""The lab's 5x5 example at sparsity 0.75 gives the lab's mask."""
assert lk.check_fine_grained_prune(fine_grained_prune, 0.75, plot=False), (
    "the lab's 5x5 example at sparsity 0.75: expected round(0.75 * 25) = 19 entries pruned and a mask "
    "keeping only the 6 largest magnitudes, at (0, 0), (0, 1), (1, 1), (3, 1), (4, 0) and (4, 4)")

# %% nbgrader={"grade": true, "grade_id": "q2_test_threshold", "locked": true, "points": 3, "schema_version": 3, "solution": false}
"""Weights are ranked by magnitude, and weights equal to the threshold are pruned (strict >)."""
t = torch.tensor([4.0, -1.0, 3.0, -2.0])
mask = fine_grained_prune(t, 0.5)  # round(0.5 * 4) = 2 zeros: |-1| and |-2| are the smallest
assert lk.check_mask(mask, torch.tensor([True, False, True, False])), (
    "pruning [4, -1, 3, -2] at sparsity 0.5: expected the mask [True, False, True, False] "
    "(weights ranked by magnitude |w|, the 2 smallest pruned)")
### BEGIN HIDDEN TESTS
# ties at the threshold: all of them are pruned (the lab's mask is |w| > threshold)
t = torch.tensor([[1.0, -2.0, 2.0, 3.0], [4.0, 2.0, -5.0, 6.0]])
mask = fine_grained_prune(t, 0.25)  # 2 zeros asked, threshold |w| = 2, three entries tie at it
expected = torch.tensor([[False, False, False, True], [True, False, True, True]])
assert lk.check_mask(mask, expected), (
    "a hidden case with ties: expected every weight whose magnitude equals the threshold to be pruned "
    "(keep |w| > threshold, not >=)")
assert lk.check_close("the pruned tensor", torch.tensor([[0.0, 0.0, 0.0, 3.0], [4.0, 0.0, -5.0, 6.0]]), t,
                      rtol=0, atol=0), "a hidden case with ties: expected the tensor itself pruned in place with that mask"
# large negative weights are important
t = torch.tensor([-9.0, -8.0, 1.0, 2.0, 3.0])
assert lk.check_mask(fine_grained_prune(t, 0.4), torch.tensor([True, True, False, False, True])), (
    "a hidden case: expected large negative weights to be kept (importance is the magnitude |w|)")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "q2_test_rounding", "locked": true, "points": 3, "schema_version": 3, "solution": false}
"""The number of zeros is round(sparsity * numel): sparsity 0.37 of 10 weights prunes 4, not 3."""
t = torch.arange(1.0, 11.0)  # 10 distinct magnitudes
fine_grained_prune(t, 0.37)
assert lk.check_equal("zeros after pruning 0.37 of 10 weights", 4, int((t == 0).sum())), (
    "expected round(0.37 * 10) = 4 zeros after pruning 10 distinct weights at sparsity 0.37 "
    "(use round(), not int(), for the number of zeros)")
### BEGIN HIDDEN TESTS
gen = torch.Generator().manual_seed(3)
for numel, sparsity in [(25, 0.75), (7, 0.5), (1000, 0.1236), (100, 0.996), (12, 0.3)]:
    t = (torch.randperm(numel, generator=gen).float() + 1) * torch.where(
        torch.rand(numel, generator=gen) < 0.5, -1.0, 1.0)  # distinct magnitudes, mixed signs
    with lk.case(f"sparsity {sparsity} of {numel} weights"):
        mask = fine_grained_prune(t, sparsity)
        want = round(sparsity * numel)
        assert lk.check_equal(f"zeros after pruning {sparsity} of {numel} weights", want, int((t == 0).sum())), (
            f"a hidden case: expected round({sparsity} * {numel}) = {want} zeros "
            "(use round(sparsity * numel) for the number of zeros; int() rounds down)")
        assert lk.plain_tensor("mask", mask), "a hidden case: expected the mask returned as a plain torch.Tensor"
        assert lk.check_equal("pruned entries in the mask", want, int((~mask.bool()).sum())), (
            f"a hidden case: expected the mask to mark {want} pruned entries, as many as the zeros")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "q2_test_extreme_sparsities", "locked": true, "points": 2, "schema_version": 3, "solution": false}
"""Sparsities at and near 0 and 1: 1/n prunes exactly one weight, (n-1)/n keeps exactly one."""
t = torch.randn(4, 5, generator=torch.Generator().manual_seed(0))
mask = fine_grained_prune(t, 1 / 20)
assert lk.check_equal("weights pruned at sparsity 1/20 of 20", 1, int((t == 0).sum())), (
    "expected exactly 1 of 20 weights pruned at sparsity 1/20")
### BEGIN HIDDEN TESTS
t = torch.randn(4, 5, generator=torch.Generator().manual_seed(0))
smallest = t.abs().argmin()
fine_grained_prune(t, 1 / 20)
assert t.flatten()[smallest] == 0, "a hidden case: expected sparsity 1/20 to prune the smallest-magnitude weight"
t = torch.randn(4, 5, generator=torch.Generator().manual_seed(0))
largest = t.abs().argmax()
mask = fine_grained_prune(t, 19 / 20)
assert lk.check_equal("weights kept at sparsity 19/20 of 20", 1, int(t.count_nonzero())), (
    "a hidden case: expected exactly 1 of 20 weights kept at sparsity 19/20")
assert lk.plain_tensor("mask", mask), "a hidden case: expected the mask returned as a plain torch.Tensor"
assert bool(mask.bool().flatten()[largest]), "a hidden case: expected sparsity 19/20 to keep the largest-magnitude weight"
original = t.clone()
mask = fine_grained_prune(t, 0.0)
assert lk.plain_tensor("mask", mask) and bool(mask.bool().all()), "expected sparsity 0 to keep every weight"
assert lk.check_close("the tensor at sparsity 0", original, t, rtol=0, atol=0), (
    "expected sparsity 0 to leave the tensor unchanged")
mask = fine_grained_prune(t, 1.0)
assert lk.plain_tensor("mask", mask) and not bool(mask.bool().any()) and int(t.count_nonzero()) == 0, "expected sparsity 1 to prune every weight"
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "q2_test_shapes_dtypes_devices", "locked": true, "points": 2, "schema_version": 3, "solution": false}
"""Conv weights (4-D), other shapes, float64, the model's device: a mask shaped like the input keeping the largest |w|."""
# how many weights it keeps is the rounding test's job
w = torch.randn(8, 4, 3, 3, generator=torch.Generator().manual_seed(1))
mask = fine_grained_prune(w.clone(), 0.5)
assert lk.plain_tensor("mask", mask) and lk.check_equal("mask shape", (8, 4, 3, 3), tuple(mask.shape)), (
    "expected a mask (a plain torch.Tensor) shaped like the conv weight, (8, 4, 3, 3)")
### BEGIN HIDDEN TESTS
gen = torch.Generator().manual_seed(4)
cases = [((8, 4, 3, 3), torch.float32, 0.5), ((10, 16), torch.float64, 0.9), ((3, 5, 2), torch.float32, 0.3),
         ((64,), torch.float32, 0.55), ((16, 8, 3, 3), torch.float32, 0.8)]
for shape, dtype, sparsity in cases:
    with lk.case(f"shape {shape}, {dtype}, sparsity {sparsity}"):
        x = torch.randn(shape, generator=gen, dtype=dtype).to(device)  # distinct magnitudes
        magnitude = x.abs()
        got = fine_grained_prune(x, sparsity)
        assert lk.plain_tensor("mask", got), "a hidden case: expected the mask returned as a plain torch.Tensor"
        assert got.shape == x.shape and got.device == x.device, (
            f"a hidden case: expected a mask of shape {tuple(x.shape)} on {x.device}, "
            f"got shape {tuple(got.shape)} on {got.device}")
        assert got.dtype == torch.bool or bool(((got == 0) | (got == 1)).all()), (
            "a hidden case: expected a mask of only True/False (or 0/1)")
        assert x.dtype == dtype, f"a hidden case: expected the tensor to stay {dtype}, got {x.dtype}"
        kept = got.bool()
        assert 0 < int(kept.sum()) < x.numel(), (
            f"a hidden case: expected sparsity {sparsity} to prune some weights of {shape} and keep others")
        assert bool(magnitude[kept].min() > magnitude[~kept].max()), (
            f"a hidden case: expected the mask to keep the weights of largest magnitude |w| ({shape}, {dtype}, "
            f"sparsity {sparsity})")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "q2_test_in_place", "locked": true, "points": 2, "schema_version": 3, "solution": false}
"""Pruning is in place (the tensor passed in becomes original * mask) and the mask is returned."""
w = torch.randn(6, 7, generator=torch.Generator().manual_seed(2))
original = w.clone()
mask = fine_grained_prune(w, 0.6)
assert lk.plain_tensor("mask", mask) and mask.shape == w.shape, (
    "expected the mask (a plain torch.Tensor shaped like w) returned")
assert lk.check_close("w after pruning vs original * mask", original * mask, w, rtol=0, atol=0), (
    "expected the tensor passed in to be pruned in place: w == original * mask")
### BEGIN HIDDEN TESTS
# the mask, not the pruned tensor, is returned
assert mask.dtype == torch.bool or bool(((mask == 0) | (mask == 1)).all()), "expected a mask of only 0/1 (True/False)"
assert bool((mask.bool() == (w != 0)).all()), (
    "expected the returned mask to be True exactly where the tensor kept its weight")  # randn: no zeros before
assert 0 < int(mask.bool().sum()) < w.numel(), "expected sparsity 0.6 to prune some weights and keep others"
# pruning a layer's weight through .data changes the layer itself
conv = nn.Conv2d(4, 8, 3, bias=False)
with torch.no_grad():
    conv.weight.copy_(torch.randn(8, 4, 3, 3, generator=torch.Generator().manual_seed(5)))
before = conv.weight.detach().clone()
with lk.case("pruning conv.weight.data of a layer at sparsity 0.7"):
    mask = fine_grained_prune(conv.weight.data, 0.7)
    assert lk.plain_tensor("mask", mask), "a hidden case: expected the mask returned as a plain torch.Tensor"
    assert 0 < int((conv.weight == 0).sum()) < before.numel(), (
        "a hidden case: expected pruning conv.weight.data to zero some weights of the layer itself")
    assert lk.check_close("the layer's weight vs before * mask", before * mask.bool(), conv.weight.detach(),
                          rtol=0, atol=0), "a hidden case: expected the layer's weight pruned in place with the returned mask"
### END HIDDEN TESTS

# %% [markdown]
# ## Question 3 (5 pts)
#
# The last step pruned the 5x5 example to 75% sparsity. Now choose a sparsity that leaves
# **exactly 10** non-zero entries. Assign it to `target_sparsity` (a number in [0, 1]).

# %% nbgrader={"grade": false, "grade_id": "q3_target_sparsity", "locked": false, "schema_version": 3, "solution": true}
# target_sparsity = a sparsity in [0, 1] that leaves exactly 10 of the 25 entries non-zero
### BEGIN SOLUTION
target_sparsity = 0.6  # 15 of the 25 entries become zero, 10 stay
### END SOLUTION

# %%
lk.check_fine_grained_prune(fine_grained_prune, target_sparsity=target_sparsity, target_nonzeros=10)

# %% nbgrader={"grade": true, "grade_id": "q3_test_target_sparsity", "locked": true, "points": 5, "schema_version": 3, "solution": false}
"""target_sparsity leaves exactly 10 of the example's 25 entries non-zero."""
assert isinstance(target_sparsity, (int, float)) and 0 <= target_sparsity <= 1, (
    f"expected target_sparsity to be a number in [0, 1], got {target_sparsity!r}")
### BEGIN HIDDEN TESTS
# any s with round(25 * s) == 15 is right, i.e. 14.5 < 25 * s < 15.5 (Python rounds .5 to even)
assert 14.5 < 25 * target_sparsity < 15.5, (
    f"expected 15 zeros (10 non-zeros) from round(25 * target_sparsity); target_sparsity={target_sparsity} "
    f"prunes round(25 * {target_sparsity}) = {round(25 * target_sparsity)} entries")
### END HIDDEN TESTS

# %% [markdown]
# ## Pruning a whole model
#
# `lk.FineGrainedPruner(model, sparsity_dict, fine_grained_prune)` applies **your** function to
# every weight tensor with more than one dimension, using one sparsity per tensor from a dict
# keyed by parameter name (e.g. `"backbone.conv0.weight"`). It keeps the masks in
# `pruner.masks`, and `pruner.apply(model)` multiplies the weights with them again; you will need
# that for fine-tuning.
#
# ## Sensitivity scan
#
# Layers do not tolerate pruning equally. A **sensitivity scan** measures this: for one layer at
# a time, prune it alone to sparsity 0.4, 0.5, ..., 0.9 (the rest of the model untouched),
# measure the accuracy, and restore the layer. Layers whose accuracy drops early are
# *sensitive* and should get a low sparsity; insensitive layers can be pruned hard.
#
# The scan evaluates the model 9 x 6 = 54 times. On the full profile with a GPU that takes about
# 2 minutes.

# %%
scan = lk.sensitivity_scan(model, dataloader["test"], fine_grained_prune,
                           **lk.scan_settings())  # sparsities 0.4, 0.5, ..., 0.9

# %% [markdown]
# Each panel is one layer: accuracy after pruning that layer alone, against its sparsity. The
# dashed red line is the lab's rough bar for an acceptable loss: the accuracy at which the error
# rate is 1.5 times the dense model's, `1 - 1.5 * (1 - dense accuracy)`. Its legend gives it as a
# share of the dense accuracy (for the lab's 92.95%: 89.4%, about 96% of dense).

# %%
ax = lk.plot_sensitivity(scan, dense_model_accuracy)

# %% [markdown]
# ## Question 4 (15 pts)
#
# Look at the sensitivity curves above.
#
# **4.1 (5 pts)** How does accuracy change as sparsity increases?
#
# **4.2 (5 pts)** Do all layers have the same sensitivity to pruning?
#
# **4.3 (5 pts)** Which layer is the most sensitive? Why might that be?

# %% [markdown] nbgrader={"grade": true, "grade_id": "q4_answer", "locked": false, "points": 15, "schema_version": 3, "solution": true}
# **Your answer:**
#
# ### BEGIN SOLUTION
# 4.1 Accuracy falls as sparsity rises, slowly at first (up to about 0.5-0.7 most layers barely
# change) and then faster and faster: the curves bend sharply downwards at high sparsity (0.8-0.9).
#
# 4.2 No. Some layers (the first convolution, the middle ones like conv3/conv4) lose accuracy early,
# while others (the last convolutions, the classifier) keep almost all their accuracy even at 0.9.
#
# 4.3 The first convolution, `backbone.conv0.weight`. It has very few weights (3 input channels,
# 1,728 weights in the full model), so each weight matters more and there is little redundancy,
# and every later layer depends on the features it extracts.
#
# **Mark scheme (for graders; removed from the release):**
# 4.1 (5): accuracy decreases with sparsity (2); slowly at first, sharply at high sparsity (3).
# 4.2 (5): no (2); names layers that differ, or describes sensitive vs robust layers (3).
# 4.3 (5): the most sensitive layer as seen in the student's own plot, normally conv0 (3); a
# sensible reason (few weights / first layer / little redundancy) (2). On the tiny profile
# another layer may look most sensitive: accept what the student's plot shows.
# ### END SOLUTION

# %% [markdown]
# ## Number of parameters of each layer
#
# Sensitivity is half of the picture. The other half is size: pruning a layer with many weights
# saves much more memory than pruning a small one.

# %%
ax = lk.plot_num_parameters(model)

# %% [markdown]
# ## Question 5 (10 pts): choose a sparsity for each layer
#
# Choose a sparsity for each of the 9 weight tensors so that **after pruning, the sparse model is
# at most 25% of the size of the dense model** (counting all non-zero parameters, batch norm and
# biases included) and **its accuracy after fine-tuning stays close to the dense model's** (the
# lab asks for above 92.5%, from a dense 92.95%).
#
# These targets are the lab's, for its full VGG, so reason on that model: below are its parameter
# counts and the sensitivity curves the lab published for it (its pretrained checkpoint on
# CIFAR-10). Your own scan above shows the model you are running. Rules of thumb: large layers can
# take a high sparsity; sensitive layers need a low one.

# %%
with torch.device("meta"):  # the lab's full VGG: shapes only, no memory
    full_vgg = lk.VGG()
ax = lk.plot_num_parameters(full_vgg, title="#Parameter Distribution of the lab's full VGG")
ax = lk.plot_sensitivity(lk.LAB_SENSITIVITY, lk.LAB_DENSE_ACCURACY, title="the lab's published curves (full VGG)")

# %% [markdown]
# Fill in `sparsity_dict` below: replace each `...` by a sparsity in [0, 1] (do not change the 9
# names), then delete the two lines `# YOUR CODE HERE` and `raise NotImplementedError()`.

# %% nbgrader={"grade": false, "grade_id": "q5_sparsity_dict", "locked": false, "schema_version": 3, "solution": true}
lab.recover_model()  # start from the dense weights again
sparsity_dict = {  # replace each ... by the layer's sparsity, in [0, 1]; do not change the keys
    "backbone.conv0.weight": ...,
    "backbone.conv1.weight": ...,
    "backbone.conv2.weight": ...,
    "backbone.conv3.weight": ...,
    "backbone.conv4.weight": ...,
    "backbone.conv5.weight": ...,
    "backbone.conv6.weight": ...,
    "backbone.conv7.weight": ...,
    "classifier.weight": ...,
}
### BEGIN SOLUTION
sparsity_dict = {
    "backbone.conv0.weight": 0.0,
    "backbone.conv1.weight": 0.4,
    "backbone.conv2.weight": 0.5,
    "backbone.conv3.weight": 0.6,
    "backbone.conv4.weight": 0.7,
    "backbone.conv5.weight": 0.8,
    "backbone.conv6.weight": 0.8,
    "backbone.conv7.weight": 0.8,
    "classifier.weight": 0.0,
}
### END SOLUTION

# %% [markdown]
# Check both targets as the autograder does (5 points each): the **size** of the lab's full VGG
# pruned with your dict, counted exactly from its shapes (a pruned tensor keeps
# `numel - round(sparsity * numel)` entries), and the **accuracy** after pruning with your dict and
# a short fine-tune, which must stay above a fixed share of the dense accuracy. Each line prints
# what was expected and what your dict gives.

# %%
lk.check_sparsity_dict(sparsity_dict, fine_grained_prune)

# %% nbgrader={"grade": true, "grade_id": "q5_test_size", "locked": true, "points": 5, "schema_version": 3, "solution": false}
"""Pruned with sparsity_dict, the lab's full VGG keeps at most 25% of its dense size."""
assert lk.check_sparsity_size(sparsity_dict), (
    "expected the lab's full VGG pruned with sparsity_dict to keep at most 25% of its dense size (all 9 keys, "
    "each sparsity in [0, 1]); to get there, raise the sparsity of the large layers")

# %% nbgrader={"grade": true, "grade_id": "q5_test_accuracy", "locked": true, "points": 5, "schema_version": 3, "solution": false}
"""Pruned with sparsity_dict and briefly fine-tuned, the autograder's small model keeps most of its accuracy."""
# graded with a correct fine_grained_prune in place of yours, so only sparsity_dict counts here
### BEGIN HIDDEN TESTS
def _q5_reference_prune(tensor, sparsity):  # the lab's rule, so Q5 does not depend on Q2
    k = round(sparsity * tensor.numel())
    if k == 0:
        return torch.ones_like(tensor, dtype=torch.bool)
    mask = tensor.abs() > tensor.abs().flatten().kthvalue(k).values
    tensor.mul_(mask)
    return mask

assert lk.check_sparsity_accuracy(sparsity_dict, _q5_reference_prune), (
    f"expected the small model pruned with sparsity_dict and fine-tuned briefly to keep at least "
    f"{lk.ACCURACY_BAR:.0%} of its dense accuracy: give the sensitive layers (see the sensitivity curves) "
    "a lower sparsity")
### END HIDDEN TESTS

# %% [markdown]
# Now prune the model with your dict (using your `fine_grained_prune`), compare requested and
# actual sparsities, and measure size and accuracy before fine-tuning.

# %%
pruner = lk.FineGrainedPruner(model, sparsity_dict, fine_grained_prune)
for name, param in lk.prunable_parameters(model):
    print(f"  {name}: sparsity requested {sparsity_dict[name]:.2f}, got {lk.get_sparsity(param):.2f}")

# %%
sparse_model_size = lk.get_model_size(model, count_nonzero_only=True)  # the lab's count: non-zeros x 32 bits
print(f"sparse model has size={sparse_model_size / lk.MiB:.2f} MiB "
      f"= {sparse_model_size / dense_model_size:.2%} of dense model size")
sparse_model_accuracy = lk.evaluate(model, dataloader["test"])
print(f"sparse model has accuracy={sparse_model_accuracy:.2%} before fine-tuning")

# %% [markdown]
# The lab counts only the non-zeros. A real sparse format must also store where they are: a
# bitmask (one bit per weight) or CSR indices (one 32-bit column index per non-zero). Your pruned
# model in each accounting:

# %%
print(lk.size_report(model))

# %%
ax = lk.plot_weight_distribution(model, bins=256, count_nonzero_only=True)

# %% [markdown]
# ## Fine-tune the fine-grained pruned model
#
# Pruning costs accuracy; training the remaining weights for a few epochs recovers most of it.
# After every optimizer step the masks are applied again (`callbacks=[...]`), otherwise momentum
# and weight decay would turn the pruned weights back into non-zeros. `lk.fine_tune` trains with
# the lab's settings (SGD, lr 0.01, momentum 0.9, weight decay 1e-4, cosine schedule, cross
# entropy), evaluates after every epoch and keeps the best weights.
#
# 5 epochs take about 3 minutes on the full profile with a GPU.

# %%
num_finetune_epochs = lk.finetune_epochs(5)
history = lk.fine_tune(model, dataloader["train"], dataloader["test"], epochs=num_finetune_epochs,
                       callbacks=[lambda: pruner.apply(model)])

# %%
sparse_model_size = lk.get_model_size(model, count_nonzero_only=True)
print(f"sparse model has size={sparse_model_size / lk.MiB:.2f} MiB "
      f"= {sparse_model_size / dense_model_size:.2%} of dense model size")
print(f"sparse model has accuracy={lk.evaluate(model, dataloader['test']):.2%} after fine-tuning")

# %% [markdown]
# # Channel pruning
#
# Fine-grained pruning leaves the tensors the same shape, full of zeros; ordinary hardware still
# multiplies by those zeros. **Channel pruning** removes whole output channels of a convolution
# (and the matching batch-norm channels and input channels of the next convolution), so the
# layers become genuinely smaller and faster on any hardware.
#
# Start again from the dense model.

# %%
lab.recover_model()
dense_model_accuracy = lk.evaluate(model, dataloader["test"])
print(f"dense model has accuracy={dense_model_accuracy:.2%}")


# %% [markdown]
# ## Removing channel weights
#
# The simplest rule keeps the **first** $n_{keep}$ output channels of each convolution, with
# $n_{keep} = \mathrm{round}(C_{out} \cdot (1 - r))$ for a prune ratio $r$. The same prune ratio
# is used for conv0 to conv6; the last convolution keeps all its channels because the classifier
# reads them.
#
# Removing output channels of conv *i* changes three tensors: conv *i*'s weight (dim 0), batch
# norm *i*'s parameters and statistics, and conv *i+1*'s weight along **dim 1** (its input
# channels). `lk.keep_output_channels(conv, bn, n_keep)` does the first two for you.
#
# ## Question 6 (10 pts)
#
# 1. Complete `get_num_channels_to_keep` (use `round`, not `int` alone).
# 2. In `channel_prune`, write the line that keeps only the first `n_keep` **input** channels of
#    `next_conv`. Assign the sliced tensor with `next_conv.weight.set_(...)`.

# %% nbgrader={"grade": false, "grade_id": "q6_get_num_channels_to_keep", "locked": false, "schema_version": 3, "solution": true}
def get_num_channels_to_keep(channels: int, prune_ratio: float) -> int:
    """Return how many of ``channels`` output channels to keep when pruning ``prune_ratio`` of them."""
    # return channels * (1 - prune_ratio) rounded to the nearest integer, as an int
    # (please use round(); int() alone always rounds down)
    ### BEGIN SOLUTION
    return int(round(channels * (1 - prune_ratio)))
    ### END SOLUTION


# %% nbgrader={"grade": false, "grade_id": "q6_channel_prune", "locked": false, "schema_version": 3, "solution": true}
@torch.no_grad()
def channel_prune(model: nn.Module, prune_ratio: Union[List, float]) -> nn.Module:
    """Return a copy of ``model`` with the first channels of conv0..conv6 kept.

    Args:
        model: the VGG to prune (not modified).
        prune_ratio: one ratio for every pruned conv, or a list with one ratio per conv (7).
    """
    all_convs, all_bns = lk.get_convs_and_bns(model)
    n_conv = len(all_convs)
    if isinstance(prune_ratio, list):
        assert len(prune_ratio) == n_conv - 1, f"give {n_conv - 1} ratios, one per conv but the last"
    else:
        prune_ratio = [prune_ratio] * (n_conv - 1)

    model = copy.deepcopy(model)  # prune a copy; the original stays as it is
    all_convs, all_bns = lk.get_convs_and_bns(model)
    for i_ratio, p_ratio in enumerate(prune_ratio):
        prev_conv, prev_bn = all_convs[i_ratio], all_bns[i_ratio]
        next_conv = all_convs[i_ratio + 1]
        original_channels = prev_conv.out_channels
        n_keep = get_num_channels_to_keep(original_channels, p_ratio)
        lk.keep_output_channels(prev_conv, prev_bn, n_keep)  # conv weight (dim 0) and its BN
        # keep only the first n_keep input channels of next_conv (dim 1 of its weight):
        # next_conv.weight.set_(...) with the sliced weight
        ### BEGIN SOLUTION
        next_conv.weight.set_(next_conv.weight.detach()[:, :n_keep])
        ### END SOLUTION
    lk.sync_channel_attributes(model)  # update in_channels/out_channels/num_features
    return model


# %% [markdown]
# Check: the MACs of the model pruned at ratio 0.3 (for the full model the lab expects 305,388,064).

# %%
dummy_input = torch.randn(1, 3, 32, 32, device=device)
pruned_model = channel_prune(model, prune_ratio=0.3)
lk.check_channel_prune_macs(pruned_model, model, keep_fn=get_num_channels_to_keep)

# %% nbgrader={"grade": true, "grade_id": "q6_test_num_channels", "locked": true, "points": 3, "schema_version": 3, "solution": false}
"""get_num_channels_to_keep rounds channels * (1 - prune_ratio) to the nearest int."""
assert lk.check_equal("channels kept of 64 at ratio 0.3", 45, get_num_channels_to_keep(64, 0.3)), (
    "expected get_num_channels_to_keep(64, 0.3) == 45, the nearest int to 64 * 0.7 = 44.8")
### BEGIN HIDDEN TESTS
for channels, ratio in [(128, 0.3), (10, 0.9), (512, 0.0), (256, 0.3), (100, 0.07), (8, 0.5), (64, 0.75)]:
    with lk.case(f"{channels} channels at ratio {ratio}"):
        got = get_num_channels_to_keep(channels, ratio)
    want = int(round(channels * (1 - ratio)))
    assert isinstance(got, int), f"expected an int from get_num_channels_to_keep, got {type(got).__name__}"
    assert lk.check_equal(f"channels kept of {channels} at ratio {ratio}", want, got), (
        f"a hidden case: expected get_num_channels_to_keep({channels}, {ratio}) == {want}, "
        "rounded to the nearest integer (int() alone rounds 0.9999 down to 0)")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "q6_test_channel_prune", "locked": true, "points": 2, "schema_version": 3, "solution": false}
"""channel_prune keeps the first channels of each conv and BN and the matching input channels of the next conv."""
# graded with a correct get_num_channels_to_keep in place of yours, so only channel_prune's own lines count
### BEGIN HIDDEN TESTS
def _q6_reference_keep(channels, prune_ratio):
    return int(round(channels * (1 - prune_ratio)))

def _q6_reference_in_place():  # one concept per test: the reference get_num_channels_to_keep, restored after
    return lk.with_dependency(channel_prune, "get_num_channels_to_keep", _q6_reference_keep)

_Q6_BN = ("weight", "bias", "running_mean", "running_var")

def _q6_check(pruned, ratios, x):
    convs, bns = lk.get_convs_and_bns(model)
    keep = [_q6_reference_keep(c.out_channels, r) for c, r in zip(convs, ratios)] + [convs[-1].out_channels]
    n_in = 3
    for i, (c, b, pc, pb) in enumerate(zip(convs, bns, *lk.get_convs_and_bns(pruned))):
        for name, value in [("weight", pc.weight), *((f"bn.{n}", getattr(pb, n)) for n in _Q6_BN)]:
            assert lk.plain_tensor(f"conv{i} {name}", value), (
                f"ratios {ratios}: expected conv{i}'s {name} to be a plain torch.Tensor (or nn.Parameter)")
        torch.testing.assert_close(pc.weight, c.weight[: keep[i], :n_in], rtol=0, atol=0, msg=lambda m: (
            f"ratios {ratios}: expected conv{i}'s weight to keep its first {keep[i]} output channels and "
            f"the first {n_in} input channels, shape {(keep[i], n_in, 3, 3)}, got {tuple(pc.weight.shape)}"))
        for name in _Q6_BN:
            torch.testing.assert_close(getattr(pb, name), getattr(b, name)[: keep[i]], rtol=0, atol=0,
                                       msg=f"ratios {ratios}: expected bn{i}.{name} to keep its first {keep[i]} channels")
        n_in = keep[i]
    assert pruned(x).shape == (2, 10), f"ratios {ratios}: expected the pruned model to map images to 10 logits"

with _q6_reference_in_place():
    x = torch.randn(2, 3, 32, 32, device=device)
    _q6_check(channel_prune(model, 0.3), [0.3] * 7, x)
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "q6_test_channel_prune_ratios", "locked": true, "points": 2, "schema_version": 3, "solution": false}
"""Other ratios and a list of 7 ratios work, and the original model is left unchanged."""
# graded with a correct get_num_channels_to_keep in place of yours, so only channel_prune's own lines count
### BEGIN HIDDEN TESTS
with _q6_reference_in_place():
    dense_state = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.randn(2, 3, 32, 32, device=device)
    _q6_check(channel_prune(model, 0.5), [0.5] * 7, x)
    ratios = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7]
    _q6_check(channel_prune(model, ratios), ratios, x)
    for k, v in model.state_dict().items():
        assert lk.plain_tensor(k, v), f"expected the original model's {k} left a plain tensor"
        torch.testing.assert_close(v, dense_state[k], rtol=0, atol=0,
                                   msg=f"expected channel_prune to leave the original model unchanged ({k} changed)")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "q6_test_macs", "locked": true, "points": 3, "schema_version": 3, "solution": false}
"""The model pruned at ratio 0.3 has the expected number of MACs."""
# graded with a correct get_num_channels_to_keep in place of yours, so only channel_prune's own lines count
### BEGIN HIDDEN TESTS
with _q6_reference_in_place():
    assert lk.check_channel_prune_macs(channel_prune(model, 0.3), model), (
        "expected channel_prune(model, 0.3) to have the MACs printed above as expected "
        "(first channels of each conv and BN kept, and the same input channels of the next conv)")
### END HIDDEN TESTS

# %% [markdown]
# The naively pruned model (first channels kept, no fine-tuning) loses a lot of accuracy:

# %%
pruned_model_accuracy = lk.evaluate(pruned_model, dataloader["test"])
print(f"pruned model has accuracy={pruned_model_accuracy:.2%}")


# %% [markdown]
# ## Ranking channels by importance
#
# Keeping the *first* channels is arbitrary. Better: sort the channels so the most important come
# first, then keep the first ones. The importance of output channel $j$ of conv *i* is measured
# where that channel is consumed: the **L2 (Frobenius) norm of input channel $j$'s slice of conv
# *i+1*'s weight**, `next_conv.weight[:, j]` (shape $C_{out} \times k_H \times k_W$).
#
# Sorting must not change what the network computes: if the output channels of conv *i* (and its
# batch norm) are permuted, the input channels of conv *i+1* must be permuted the same way.
# `lk.permute_output_channels(conv, bn, order)` does the first part.
#
# ## Question 7 (15 pts)
#
# 1. In `get_input_channel_importance`, compute the importance of one input channel (hint: `torch.norm`).
# 2. In `apply_channel_sorting`, reorder the input channels of `next_conv` (dim 1) with `sort_idx`
#    (hint: `torch.index_select`, and `next_conv.weight.copy_(...)`).

# %% nbgrader={"grade": false, "grade_id": "q7_get_input_channel_importance", "locked": false, "schema_version": 3, "solution": true}
def get_input_channel_importance(weight: torch.Tensor) -> torch.Tensor:
    """Return the importance of each input channel of a conv weight (C_out, C_in, kH, kW) -> (C_in,)."""
    in_channels = weight.shape[1]
    importances = []
    for i_c in range(in_channels):
        channel_weight = weight.detach()[:, i_c]  # (C_out, kH, kW)
        # importance = the L2 (Frobenius) norm of channel_weight, a 0-dim tensor (hint: torch.norm)
        ### BEGIN SOLUTION
        importance = torch.norm(channel_weight)
        ### END SOLUTION
        importances.append(importance.view(1))
    return torch.cat(importances)


# %% nbgrader={"grade": false, "grade_id": "q7_apply_channel_sorting", "locked": false, "schema_version": 3, "solution": true}
@torch.no_grad()
def apply_channel_sorting(model: nn.Module) -> nn.Module:
    """Return a copy of ``model`` whose conv0..conv6 output channels are sorted by importance."""
    model = copy.deepcopy(model)
    all_convs, all_bns = lk.get_convs_and_bns(model)
    for i_conv in range(len(all_convs) - 1):
        prev_conv, prev_bn = all_convs[i_conv], all_bns[i_conv]
        next_conv = all_convs[i_conv + 1]
        importance = get_input_channel_importance(next_conv.weight)
        sort_idx = torch.argsort(importance, descending=True)
        lk.permute_output_channels(prev_conv, prev_bn, sort_idx)  # conv weight (dim 0) and its BN
        # reorder next_conv's input channels (dim 1 of its weight) the same way, with sort_idx:
        # next_conv.weight.copy_(...) with the reordered weight
        ### BEGIN SOLUTION
        next_conv.weight.copy_(torch.index_select(next_conv.weight.detach(), 1, sort_idx))
        ### END SOLUTION
    return model


# %% [markdown]
# Check: sorting is an equivalent transformation, so the sorted model must compute the same
# outputs and reach the same accuracy as the dense model.

# %%
sorted_model = apply_channel_sorting(model)
lk.check_same_function("sorted vs dense logits", model, sorted_model, dummy_input)
sorted_model_accuracy = lk.evaluate(sorted_model, dataloader["test"])
lk.check_close("accuracy after sorting", dense_model_accuracy, sorted_model_accuracy, rtol=0, atol=0.001)

# %% nbgrader={"grade": true, "grade_id": "q7_test_importance", "locked": true, "points": 3, "schema_version": 3, "solution": false}
"""get_input_channel_importance returns one L2 norm per input channel, shape (C_in,)."""
w = torch.randn(8, 5, 3, 3, generator=torch.Generator().manual_seed(6))
importance = get_input_channel_importance(w)
assert lk.check_equal("importance shape", (5,), tuple(importance.shape)), (
    "expected one importance per input channel: shape (5,) for a (8, 5, 3, 3) weight")
### BEGIN HIDDEN TESTS
gen = torch.Generator().manual_seed(7)
for shape in [(8, 5, 3, 3), (16, 3, 5, 5)]:
    w = torch.randn(shape, generator=gen).to(device)
    want = w.pow(2).sum(dim=(0, 2, 3)).sqrt()  # L2 norm over everything but the input channel
    assert lk.check_close(f"importance of {shape}", want, get_input_channel_importance(w), rtol=1e-5, atol=1e-6), (
        f"a hidden case {shape}: expected the importance of input channel j to be the L2 norm of weight[:, j]")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "q7_test_importance_dims", "locked": true, "points": 3, "schema_version": 3, "solution": false}
"""The norm runs over output channels and the kernel (input channel kept), for square weights and float64 too."""
### BEGIN HIDDEN TESTS
gen = torch.Generator().manual_seed(8)
for shape, dtype in [((6, 6, 3, 3), torch.float32), ((4, 7, 1, 1), torch.float64), ((32, 32, 3, 3), torch.float32)]:
    w = torch.randn(shape, generator=gen, dtype=dtype).to(device)
    want = w.pow(2).sum(dim=(0, 2, 3)).sqrt()
    got = get_input_channel_importance(w)
    assert lk.check_close(f"importance of {shape} {dtype}", want, got, rtol=1e-5, atol=1e-6), (
        f"a hidden case {shape} {dtype}: expected the L2 norm over weight[:, j] (all output channels "
        "and the kernel), not over weight[j]")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "q7_test_sorting_equivalent", "locked": true, "points": 3, "schema_version": 3, "solution": false}
"""apply_channel_sorting only reorders channels: the sorted model computes the same logits."""
# graded with a correct get_input_channel_importance in place of yours, so only the sorting lines count
### BEGIN HIDDEN TESTS
def _q7_reference_importance(weight):
    return weight.detach().pow(2).sum(dim=(0, 2, 3)).sqrt()

def _q7_reference_in_place():  # one concept per test: the reference importance, restored after
    return lk.with_dependency(apply_channel_sorting, "get_input_channel_importance", _q7_reference_importance)

with _q7_reference_in_place():
    x = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(8)).to(device)
    assert lk.check_same_function("sorted vs dense logits", model, apply_channel_sorting(model), x), (
        "expected the sorted model to compute the same logits as the dense one: reorder next_conv's "
        "input channels (dim 1) with the same sort_idx as the previous conv's outputs")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "q7_test_sorting_other_model", "locked": true, "points": 3, "schema_version": 3, "solution": false}
"""Sorting another VGG (non-trivial batch-norm statistics) keeps its logits, and leaves the original untouched."""
# graded with a correct get_input_channel_importance in place of yours, so only the sorting lines count
### BEGIN HIDDEN TESTS
with torch.random.fork_rng(devices=[]):  # leave the notebook's random state alone
    torch.manual_seed(9)
    other = lk.VGG(width=0.125).to(device)
    x = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(8)).to(device)
for m in other.modules():  # non-trivial BN statistics, so a BN left unsorted shows
    if isinstance(m, nn.BatchNorm2d):
        with torch.no_grad():
            m.running_mean.copy_(torch.linspace(-0.5, 0.5, m.num_features).flip(0))
            m.running_var.copy_(torch.linspace(0.5, 2.0, m.num_features))
            m.weight.copy_(torch.linspace(0.5, 1.5, m.num_features))
            m.bias.copy_(torch.linspace(-0.2, 0.2, m.num_features))
other_state = {k: v.clone() for k, v in other.state_dict().items()}
with _q7_reference_in_place():
    assert lk.check_same_function("sorted vs original logits (another VGG)", other, apply_channel_sorting(other), x), (
        "a hidden case (another VGG): expected the sorted model to compute the same logits")
for k, v in other.state_dict().items():
    assert lk.plain_tensor(k, v), f"expected the original model's {k} left a plain tensor"
    torch.testing.assert_close(v, other_state[k], rtol=0, atol=0,
                               msg=f"expected apply_channel_sorting to leave the original model unchanged ({k} changed)")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "q7_test_sorting_order", "locked": true, "points": 3, "schema_version": 3, "solution": false}
"""After sorting, every conv's input channels are in decreasing order of importance."""
# graded with a correct get_input_channel_importance in place of yours, so only the sorting lines count
### BEGIN HIDDEN TESTS
with _q7_reference_in_place():
    sorted_model = apply_channel_sorting(model)
s_convs, _ = lk.get_convs_and_bns(sorted_model)
for i, conv in enumerate(s_convs[1:], start=1):
    norms = conv.weight.detach().pow(2).sum(dim=(0, 2, 3)).sqrt()
    assert bool((norms[:-1] >= norms[1:] - 1e-6).all()), (
        f"expected conv{i}'s input channels in decreasing order of L2 norm after sorting")
# the sorted model equals the reference sorting (L2 norm of the next conv's input channels)
ref = copy.deepcopy(model)
r_convs, r_bns = lk.get_convs_and_bns(ref)
with torch.no_grad():
    for i in range(len(r_convs) - 1):
        order = torch.argsort(r_convs[i + 1].weight.pow(2).sum(dim=(0, 2, 3)), descending=True)
        lk.permute_output_channels(r_convs[i], r_bns[i], order)
        r_convs[i + 1].weight.copy_(r_convs[i + 1].weight[:, order])
got_state = sorted_model.state_dict()
for k, v in ref.state_dict().items():
    assert lk.plain_tensor(k, got_state[k]), f"expected the sorted model's {k} to be a plain tensor"
    torch.testing.assert_close(got_state[k], v, rtol=1e-6, atol=1e-6, msg=lambda m: (
        f"expected {k} to equal the reference sorting (channels by decreasing importance, the same "
        f"order for the conv's outputs, its BN and the next conv's inputs)\n{m}"))
### END HIDDEN TESTS

# %% [markdown]
# With channel sorting, the same 30% of channels removed costs much less accuracy:

# %%
channel_pruning_ratio = 0.3  # pruned-away ratio
print(" * Without sorting...")
pruned_model = channel_prune(model, channel_pruning_ratio)
print(f"pruned model has accuracy={lk.evaluate(pruned_model, dataloader['test']):.2%}")
print(" * With sorting...")
pruned_model = channel_prune(apply_channel_sorting(model), channel_pruning_ratio)
print(f"pruned model has accuracy={lk.evaluate(pruned_model, dataloader['test']):.2%}")

# %% [markdown]
# Fine-tuning recovers most of the rest. No masks are needed this time: the removed channels are
# gone from the tensors.

# %%
num_finetune_epochs = lk.finetune_epochs(5)
history = lk.fine_tune(pruned_model, dataloader["train"], dataloader["test"], epochs=num_finetune_epochs)

# %% [markdown]
# ## Measuring the speed-up
#
# Finally, compare the dense and the channel-pruned model: latency, MACs and parameters. As in
# the lab, latency is measured **on the CPU with one image at a time**, imitating an edge device
# (the models are copied to the CPU for timing); here also on **one CPU thread**, like a small
# device, which also keeps the timing steady when other programs share the machine. Latency depends on
# the machine and on how busy it is; the MACs and parameters do not.

# %%
n_warmup, n_test = lk.latency_repeats(20, 100)
x = torch.randn(1, 3, 32, 32)  # one image, on the CPU
on_cpu = {"original": copy.deepcopy(model).cpu(), "pruned": copy.deepcopy(pruned_model).cpu()}
latency = {k: lk.measure_latency(m, x, n_warmup=n_warmup, n_test=n_test, num_threads=1)
           for k, m in on_cpu.items()}

# %%
macs = {k: lk.get_model_macs(m, x) for k, m in on_cpu.items()}
params = {k: lk.get_num_parameters(m) for k, m in on_cpu.items()}
print(lk.comparison_table([("Latency (ms)", *(round(latency[k] * 1e3, 2) for k in on_cpu)),
                           ("MACs (M)", *(round(macs[k] / 1e6, 2) for k in on_cpu)),
                           ("Param (M)", *(round(params[k] / 1e6, 3) for k in on_cpu))]))

# %% [markdown]
# ## Question 8 (10 pts)
#
# **8.1 (5 pts)** Removing 30% of the channels removes about 50% of the computation (MACs). Why?
#
# **8.2 (5 pts)** Why is the latency reduction smaller than the reduction in computation?

# %% [markdown] nbgrader={"grade": true, "grade_id": "q8_answer", "locked": false, "points": 10, "schema_version": 3, "solution": true}
# **Your answer:**
#
# ### BEGIN SOLUTION
# 8.1 A convolution's MACs are proportional to C_in x C_out (times kernel size and feature-map
# size). Pruning 30% of the channels shrinks both the input and the output channels of the middle
# layers to 70%, so their MACs fall to 0.7 x 0.7 = 0.49 of the original, about half.
#
# 8.2 Latency is not only arithmetic: memory traffic, kernel launch and framework overheads,
# pooling/batch-norm/activation layers and the layers that were not pruned (the first conv's input,
# the last conv's output, the classifier) do not shrink quadratically. Small channel counts that are
# not multiples of the hardware's vector width also use the hardware less efficiently, and with
# batch size 1 the processor is not saturated anyway.
#
# **Mark scheme (for graders; removed from the release):**
# 8.1 (5): MACs scale with C_in * C_out (2); both shrink to 0.7, 0.7^2 = 0.49 (3).
# 8.2 (5): any two of: memory-bound / data movement; fixed overheads (framework, launches);
# unpruned layers and non-conv ops; hardware under-utilised at small or odd channel counts / batch 1.
# ### END SOLUTION

# %% [markdown]
# # Fine-grained pruning vs channel pruning
#
# ## Question 9 (10 pts)
#
# **9.1 (5 pts)** What are the advantages and disadvantages of fine-grained pruning and of channel
# pruning? Consider compression ratio, accuracy, latency and hardware support (e.g. the need for
# special hardware accelerators).
#
# **9.2 (5 pts)** To make a model run faster on a smartphone, which pruning method would you use, and why?

# %% [markdown] nbgrader={"grade": true, "grade_id": "q9_answer", "locked": false, "points": 10, "schema_version": 3, "solution": true}
# **Your answer:**
#
# ### BEGIN SOLUTION
# 9.1 Fine-grained pruning reaches much higher compression at the same accuracy (any weight can go,
# so the least important ones are removed precisely), but the tensors keep their shape: the zeros
# must be stored with indices and skipped by special sparse kernels or accelerators (e.g. EIE,
# sparse tensor cores) to gain speed; on ordinary hardware latency does not improve. Channel
# pruning is coarser, so it loses more accuracy for the same number of removed weights and
# compresses less, but it produces a smaller dense model that runs faster on any hardware with
# ordinary libraries.
#
# 9.2 Channel pruning: phones run dense kernels on CPUs/GPUs/NPUs without support for irregular
# sparsity, so only a genuinely smaller network (fewer channels, fewer MACs) gives a reliable
# speed-up there.
#
# **Mark scheme (for graders; removed from the release):**
# 9.1 (5): fine-grained: higher compression/accuracy (1), needs sparse storage and special
# hardware/kernels for speed (1.5); channel: lower compression/accuracy (1), speed-up on
# commodity hardware (1.5).
# 9.2 (5): channel pruning (2), because commodity mobile hardware cannot exploit irregular
# sparsity but runs a smaller dense model faster (3).
# ### END SOLUTION

# %% [markdown]
# # Before you upload
#
# Save the notebook, then run the cell below: it checks the file you will upload (every test
# cell there once and unchanged, no answer left as a stub) and runs it from the top in a fresh
# kernel, as the grader will (a few minutes), listing each visible test that fails. In a
# terminal: `python -m labkit.submission lab1.ipynb`. On Colab it checks the notebook as it is
# open; upload what *File > Download > Download .ipynb* gives.

# %%
# lk.check_submission()  # remove the leading "# " to run it
