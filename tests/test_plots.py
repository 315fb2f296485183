"""Plots are pure: they return Axes, derive limits from the data, and read no globals."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

import labkit as lk  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def tiny_model():
    torch.manual_seed(0)
    return lk.VGG(0.125)


def test_weight_distribution_grid_and_nonzero_only():
    model = tiny_model()
    axes = lk.plot_weight_distribution(model, bins=32)
    assert axes.shape == (3, 3)
    assert [ax.get_xlabel() for ax in axes.flat] == [n for n, _ in lk.prunable_parameters(model)]
    with torch.no_grad():
        model.backbone.conv0.weight.zero_()
        model.backbone.conv0.weight[0, 0, 0, :2] = torch.tensor([0.5, 0.6])
    axes = lk.plot_weight_distribution(model, bins=4, count_nonzero_only=True)
    left = min(patch.get_xy()[:, 0].min() for patch in axes.flat[0].patches)
    assert left == pytest.approx(0.5)  # the zeros were dropped; only 0.5 and 0.6 are binned


def test_mask_picture_prints_every_value():
    dense = torch.tensor([[0.5, -0.2], [0.0, 0.3]])
    sparse = torch.tensor([[0.5, 0.0], [0.0, 0.3]])
    axes = lk.plot_mask(dense, sparse)
    assert len(axes) == 2
    assert sorted(t.get_text() for t in axes[1].texts) == ["0.00", "0.00", "0.30", "0.50"]
    with pytest.raises(ValueError):
        lk.plot_mask(dense, sparse.view(-1))


def test_sensitivity_limits_come_from_the_data_and_lower_bound_is_the_labs():
    scan = lk.ScanResult([0.4, 0.5], {"a.weight": [0.6, 0.5], "b.weight": [0.62, 0.3]})
    axes = lk.plot_sensitivity(scan, dense_accuracy=0.64)
    lower = (1 - (1 - 0.64) * 1.5) * 100  # 46
    ax = axes.flat[0]
    ymin, ymax = ax.get_ylim()
    assert ymin < 30 and ymax > 64  # covers 0.30 .. 0.64, not the lab's fixed 80..95
    line = ax.get_lines()[1]
    assert list(line.get_ydata()) == pytest.approx([lower, lower])
    assert "72% of dense" in ax.get_legend().get_texts()[1].get_text()
    assert [a.get_title() for a in axes.flat if a.get_visible()] == ["a.weight", "b.weight"]


def test_num_parameters_bars():
    model = tiny_model()
    ax = lk.plot_num_parameters(model)
    heights = [p.get_height() for p in ax.patches]
    assert heights == [p.numel() for _, p in lk.prunable_parameters(model)]


def test_comparison_table():
    text = lk.comparison_table([("MACs (M)", 606, 305), ("Param (M)", 9.23, 5.01)])
    lines = text.splitlines()
    assert lines[0].split() == ["Original", "Pruned", "Reduction", "Ratio"]
    assert lines[1].split() == ["MACs", "(M)", "606", "305", "2.0"]
    assert lines[2].split()[-1] == "1.8"
    with pytest.raises(ValueError):
        lk.comparison_table([("x", 1, 0)])


def test_published_curves_and_full_vgg_bars_on_the_meta_device():
    """Q5 shows the lab's published curves and the full VGG's bars, without the full model's memory."""
    with torch.device("meta"):
        full = lk.VGG()
    ax = lk.plot_num_parameters(full, title="the lab's full VGG")
    assert ax.get_title() == "the lab's full VGG"
    assert [p.get_height() for p in ax.patches][-2:] == [2_359_296, 5_120]  # conv7, classifier
    axes = lk.plot_sensitivity(lk.LAB_SENSITIVITY, lk.LAB_DENSE_ACCURACY, title="published")
    assert "(published)" in axes.flat[0].figure._suptitle.get_text()
    assert "96% of dense" in axes.flat[0].get_legend().get_texts()[1].get_text()  # the lab's legend
    conv0 = axes.flat[0].get_lines()[0].get_ydata()
    assert list(conv0) == pytest.approx([92.42, 91.19, 87.55, 83.39, 69.43, 31.82])
