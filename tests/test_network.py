"""Mobile-FRNet: shapes, dynamic batch, ONNX export parity and the paper's Table 2 costs."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="training extra (torch) not installed")
ort = pytest.importorskip("onnxruntime", reason="onnxruntime not installed")
pytest.importorskip("onnx", reason="onnx (training extra) not installed")
pytestmark = pytest.mark.usefixtures("torch_one_thread")  # tests/conftest.py

from frnet.train.network import (  # noqa: E402
    INPUT_MEAN,
    INPUT_STD,
    MobileFRNet,
    MultiScaleFilter,
    SqueezeExcite,
    count_parameters,
    export_onnx,
    mobilenet_v2_baseline,
    normalize_input,
)
from frnet.train.complexity import PAPER_TABLE2, count_macs, format_table, profile_networks  # noqa: E402


def _calibrated(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Eval-mode model with BatchNorm statistics from a few random batches.

    Fresh BatchNorm statistics (mean 0, var 1) let the signal fade through the depthwise layers,
    so outputs would be ~1e-7 and any parity check trivially true.
    """
    torch.manual_seed(seed)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.momentum = None  # cumulative average
    model.train()
    with torch.no_grad():
        model(torch.randn(4, 3, 120, 120))
    return model.eval()


@pytest.fixture(scope="module")
def frnet_eval():
    torch.manual_seed(0)
    return _calibrated(MobileFRNet())


def test_output_shape_and_dynamic_batch(frnet_eval):
    with torch.no_grad():
        for batch in (1, 3):
            out = frnet_eval(torch.randn(batch, 3, 120, 120))
            assert out.shape == (batch, 62)
            assert torch.isfinite(out).all()


def test_batch_items_are_independent_in_eval(frnet_eval):
    x = torch.randn(3, 3, 120, 120)
    with torch.no_grad():
        together = frnet_eval(x)
        alone = frnet_eval(x[1:2])
    torch.testing.assert_close(together[1:2], alone, atol=1e-5, rtol=1e-4)


def test_num_params_argument():
    model = MobileFRNet(num_params=10, attention=False).eval()
    with torch.no_grad():
        assert model(torch.zeros(2, 3, 120, 120)).shape == (2, 10)


def test_gradients_reach_every_parameter():
    torch.manual_seed(1)
    model = MobileFRNet().train()
    model(torch.randn(2, 3, 120, 120)).square().sum().backward()
    missing = [name for name, p in model.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not missing


def test_onnx_export_matches_torch(frnet_eval, tmp_path):
    path = export_onnx(frnet_eval, tmp_path / "frnet.onnx")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    import onnx

    model_proto = onnx.load(str(path))
    assert {o.domain: o.version for o in model_proto.opset_import}.get("", None) == 17
    assert not (tmp_path / "frnet.onnx.part").exists()
    for batch in (1, 4):  # the batch axis is dynamic
        x = torch.randn(batch, 3, 120, 120)
        with torch.no_grad():
            expected = frnet_eval(x).numpy()
        (got,) = session.run(["params"], {"input": x.numpy()})
        assert got.shape == (batch, 62)
        assert expected.std() > 1e-3  # not a trivially tiny output
        assert np.abs(got - expected).max() < 1e-4
    assert not frnet_eval.training


def test_multiscale_groups_are_hierarchical():
    """Group i of a stride-1 block sees groups < i (Res2Net), never groups > i."""
    torch.manual_seed(2)
    block = MultiScaleFilter(16, stride=1, scales=4, group_width=2).eval()
    x = torch.randn(1, 16, 9, 9)
    bumped = x.clone()
    bumped[:, 0, 4, 4] += 5.0  # group 0
    with torch.no_grad():
        delta = (block(bumped) - block(x)).abs().amax(dim=(0, 2, 3)).reshape(4, 4).amax(dim=1)
    assert (delta > 0).all()  # reaches every later group
    bumped = x.clone()
    bumped[:, 12, 4, 4] += 5.0  # last group
    with torch.no_grad():
        delta = (block(bumped) - block(x)).abs().amax(dim=(0, 2, 3)).reshape(4, 4).amax(dim=1)
    assert torch.equal(delta[:3], torch.zeros(3)) and delta[3] > 0


def test_baseline_is_plain_mobilenet_v2():
    baseline = mobilenet_v2_baseline()
    assert not any(isinstance(m, (MultiScaleFilter, SqueezeExcite)) for m in baseline.modules())
    same = MobileFRNet(attention=False, multiscale=False)
    assert count_parameters(same) == count_parameters(baseline)
    # torchvision's MobileNetV2 has 2,223,872 backbone parameters; + the 1×1 conv head to 62.
    assert count_parameters(baseline) == 2_223_872 + 1280 * 62 + 62


def test_costs_within_ten_percent_of_paper_and_ordered():
    """Parameters within ±10 % of the paper; FLOPs within ±10 % *relative to the MobileNetV2
    baseline counted the same way* — the paper's absolute GFLOPs follow a counting we cannot
    reproduce (its own MobileNetV2 is 17 % above ours; see frnet.train.network's docstring)."""
    rows = {row.name: row for row in profile_networks()}
    base, paper_base = rows["MobileNetV2 baseline"].gmacs, PAPER_TABLE2["MobileNetV2 baseline"][1]
    for name in ("Mobile-FRNet (no attention)", "Mobile-FRNet"):
        paper_params, paper_gflops = PAPER_TABLE2[name]
        assert abs(rows[name].params_m / paper_params - 1) < 0.10, name
        assert abs((rows[name].gmacs / base) / (paper_gflops / paper_base) - 1) < 0.10, name
    assert abs(rows["MobileNetV2 baseline"].params_m / 2.38 - 1) < 0.10
    order = ["MobileNetV2 baseline", "Mobile-FRNet (no attention)", "Mobile-FRNet"]
    assert [rows[n].params_m for n in order] == sorted(rows[n].params_m for n in order)
    assert [rows[n].gmacs for n in order] == sorted(rows[n].gmacs for n in order)  # ties allowed
    assert "Mobile-FRNet" in format_table(list(rows.values()))


def test_mac_counter_on_a_known_layer():
    conv = torch.nn.Conv2d(3, 8, 3, stride=2, padding=1)
    # 60×60 outputs × 8 channels × 3·3·3 weights each.
    assert count_macs(conv, 120) == 60 * 60 * 8 * 27


def test_input_normalisation_maps_pixels_to_unit_range():
    assert INPUT_MEAN == (127.5,) * 3 and INPUT_STD == (127.5,) * 3
    images = torch.tensor([0.0, 127.5, 255.0]).view(1, 1, 1, 3).expand(1, 3, 1, 3)
    torch.testing.assert_close(normalize_input(images)[0, :, 0], torch.tensor([[-1.0, 0.0, 1.0]] * 3))


@pytest.mark.parametrize("attention", [True, False])
def test_fuse_for_inference_is_exact(attention):
    """The export-time rewrite (stride-2 multi-scale filters → one depthwise conv) changes no output."""
    from frnet.train.network import fuse_for_inference

    torch.manual_seed(0)
    net = MobileFRNet(attention=attention)
    for module in net.modules():  # non-trivial BatchNorm statistics, so a wrong stacking shows
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.2, 0.2)
    net.eval()
    images = torch.randn(2, 3, 120, 120)
    with torch.no_grad():
        before = net(images)
        # the first blocks of Layer2, 3, 4 and 6 have stride 2; Layer2's second block has 36-channel groups
        assert fuse_for_inference(net) == 5
        after = net(images)
    widths = [m.width for m in net.modules() if isinstance(m, MultiScaleFilter) and m.hierarchical]
    assert widths[0] == 8 and all(w % 16 == 0 for w in widths[1:])  # Layer1 (no expansion conv) stays
    assert torch.allclose(before, after, atol=1e-5, rtol=1e-5)
    assert fuse_for_inference(net) == 0  # idempotent


def test_fuse_for_inference_leaves_grouped_filters_alone():
    from frnet.train.network import fuse_for_inference

    assert fuse_for_inference(MobileFRNet(group_width=4).eval()) == 0
