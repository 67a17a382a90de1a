import pytest
import torch

from spaces import nb201
from spaces.nb201_net import AvgPool3x3, NB201Net, NetConfig, count_flops, count_params, subnet_state

CFG = NetConfig(C=4, N=2, in_channels=1, num_classes=10, bn_affine=True, bn_track_running_stats=False)


def _pairs(n, seed):
    return nb201.sample(n, seed=seed, unique=False)


@pytest.mark.parametrize("arch", _pairs(6, 0) + [
    nb201.parse("|avg_pool_3x3~0|+|skip_connect~0|none~1|+|nor_conv_1x1~0|avg_pool_3x3~1|nor_conv_3x3~2|"),
    nb201.parse("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"),
])
def test_supernet_path_equals_standalone(arch):
    torch.manual_seed(0)
    supernet = NB201Net(CFG)
    standalone = NB201Net(CFG, arch)
    standalone.load_state_dict(subnet_state(supernet.state_dict(), standalone))
    x = torch.randn(8, 1, 12, 12)
    supernet.train()
    standalone.train()
    torch.testing.assert_close(supernet(x, arch), standalone(x), rtol=0, atol=0)
    supernet.eval()
    standalone.eval()
    torch.testing.assert_close(supernet(x, arch), standalone(x), rtol=0, atol=0)


def test_running_stats_mode_matches_too():
    cfg = NetConfig(C=4, N=1, in_channels=3, bn_track_running_stats=True)
    arch = nb201.parse("|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|")
    supernet, standalone = NB201Net(cfg), NB201Net(cfg, arch)
    x = torch.randn(6, 3, 8, 8)
    supernet.train()
    for _ in range(3):  # move the running statistics away from their initial values
        supernet(torch.randn(6, 3, 8, 8), arch)
    standalone.load_state_dict(subnet_state(supernet.state_dict(), standalone))
    supernet.eval()
    standalone.eval()
    torch.testing.assert_close(supernet(x, arch), standalone(x), rtol=0, atol=0)


def test_standalone_holds_only_live_ops():
    arch = nb201.parse("|nor_conv_3x3~0|+|none~0|none~1|+|skip_connect~0|nor_conv_3x3~1|none~2|")
    net = NB201Net(CFG, arch)
    cell = net.blocks[0]
    assert [list(e.keys()) for e in cell.edges] == [["nor_conv_3x3"], [], [], ["skip_connect"], ["nor_conv_3x3"], []]
    supernet = NB201Net(CFG)
    assert set(net.state_dict()) < set(supernet.state_dict())
    assert count_params(net) < count_params(supernet)


def test_param_and_flop_counts_grow_with_convs():
    light = NB201Net(CFG, nb201.parse("|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|"))
    heavy = NB201Net(CFG, nb201.parse("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"))
    assert count_params(heavy) > count_params(light)
    assert count_flops(heavy, (1, 16, 16)) > count_flops(light, (1, 16, 16)) > 0


def test_avg_pool_matches_torch_definition():
    x = torch.randn(3, 5, 7, 9)
    ref = torch.nn.functional.avg_pool2d(x, 3, 1, 1, count_include_pad=False)
    torch.testing.assert_close(AvgPool3x3()(x), ref)


def test_supernet_needs_arch():
    with pytest.raises(ValueError, match="needs an architecture"):
        NB201Net(CFG)(torch.randn(2, 1, 8, 8))
