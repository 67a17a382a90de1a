
import pytest

from lmreg.spaces import nb201

EXAMPLE = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"


def test_round_trip_all_strings():
    archs = nb201.all_archs()
    assert len(archs) == nb201.NUM_ARCHS == 15625
    strings = {nb201.to_str(a) for a in archs}
    assert len(strings) == 15625
    for a in archs:
        s = nb201.to_str(a)
        assert nb201.parse(s) == a
        assert nb201.from_index(nb201.to_index(a)) == a


def test_example_string():
    arch = nb201.parse(EXAMPLE)
    assert arch == (3, 3, 4, 1, 3, 1)
    assert nb201.to_str(arch) == EXAMPLE


def test_unique_count_is_6466():
    unique = nb201.unique_archs()
    assert len(unique) == nb201.NUM_UNIQUE == 6466
    assert len({nb201.canonical(a) for a in unique}) == 6466


SWAP_A = "|skip_connect~0|+|none~0|none~1|+|nor_conv_3x3~0|skip_connect~1|none~2|"
SWAP_B = "|skip_connect~0|+|none~0|none~1|+|skip_connect~0|nor_conv_3x3~1|none~2|"


def test_isomorphic_cells_merge():
    # Reordered summands: node 1 = skip(x), so the output x + conv(x) can be written
    # with the conv on edge 3<-0 and the skip through node 1, or the other way round.
    s1 = nb201.parse(SWAP_A)
    s2 = nb201.parse(SWAP_B)
    assert s1 != s2 and nb201.canonical(s1) == nb201.canonical(s2)
    a = nb201.parse("|nor_conv_3x3~0|+|none~0|none~1|+|skip_connect~0|nor_conv_3x3~1|none~2|")
    # Node 2 feeds nothing: whatever its edges hold, the cell is the same.
    c = nb201.parse("|nor_conv_3x3~0|+|avg_pool_3x3~0|nor_conv_1x1~1|+|skip_connect~0|nor_conv_3x3~1|none~2|")
    assert nb201.canonical(a) == nb201.canonical(c)
    assert nb201.representative(c) == nb201.representative(a)
    # A different op on a used edge is a different cell.
    d = nb201.parse("|nor_conv_1x1~0|+|none~0|none~1|+|skip_connect~0|nor_conv_3x3~1|none~2|")
    assert nb201.canonical(a) != nb201.canonical(d)


def test_isomorphic_cells_compute_the_same_function():
    """The reordered-summands claim checked numerically: with the conv weights moved
    from edge 3<-0 to edge 3<-1, the two stand-alone networks agree."""
    import torch
    from lmreg.spaces.nb201_net import NB201Net, NetConfig
    a, b = nb201.parse(SWAP_A), nb201.parse(SWAP_B)
    cfg = NetConfig(C=3, N=1, in_channels=1)
    torch.manual_seed(0)
    net_a, net_b = NB201Net(cfg, a), NB201Net(cfg, b)
    moved = {k.replace("edges.3.", "edges.4."): v for k, v in net_a.state_dict().items()}
    net_b.load_state_dict(moved)
    x = torch.randn(4, 1, 8, 8)
    torch.testing.assert_close(net_a(x), net_b(x), rtol=0, atol=0)


def test_computed_edges_and_connectivity():
    dead = nb201.parse("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|")
    assert nb201.computed_edges(dead) == ()
    assert not nb201.is_connected(dead)
    # Edges 1->2 and 2->3 exist but node 1 is all-'none': not connected to the input,
    # yet the conv on node 1's zeros is computed (NB201 runs it; it gives BN's bias).
    cut = nb201.parse("|none~0|+|none~0|nor_conv_3x3~1|+|none~0|none~1|skip_connect~2|")
    assert not nb201.is_connected(cut)
    assert nb201.computed_edges(cut) == (2, 5)
    # Node 2 feeds nothing: its edges are not computed.
    dead_end = nb201.parse("|nor_conv_3x3~0|+|avg_pool_3x3~0|nor_conv_1x1~1|+|skip_connect~0|nor_conv_3x3~1|none~2|")
    assert nb201.computed_edges(dead_end) == (0, 3, 4)
    full = nb201.parse(EXAMPLE)
    assert nb201.computed_edges(full) == tuple(range(6))


@pytest.mark.parametrize("bad, fragment", [
    ("", "3 node groups"),
    ("|nor_conv_3x3~0|+|nor_conv_3x3~0|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|", "node 2 needs 2"),
    ("|conv_5x5~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|", "unknown NB201 op"),
    ("|nor_conv_3x3~1|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|", "must be 'op~0'"),
    ("nor_conv_3x3~0+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|", "must look like"),
    ("|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|+|none~0|", "3 node groups"),
])
def test_malformed_strings_raise_clear_errors(bad, fragment):
    with pytest.raises(nb201.ArchError, match=fragment):
        nb201.parse(bad)


def test_bad_tuples_and_indices():
    with pytest.raises(nb201.ArchError):
        nb201.check((0, 1, 2))
    with pytest.raises(nb201.ArchError):
        nb201.check((0, 1, 2, 3, 4, 5))
    with pytest.raises(nb201.ArchError):
        nb201.from_index(15625)


def test_sampling_is_seeded_uniform_and_extends():
    a = nb201.sample(50, seed=3)
    assert a == nb201.sample(50, seed=3)
    assert a != nb201.sample(50, seed=4)
    assert len(set(a)) == 50
    assert set(a) <= set(nb201.unique_archs())
    assert nb201.sample(80, seed=3)[:50] == a  # growing a build keeps what it had
    excl = nb201.sample(10, seed=0, exclude=a)
    assert not set(excl) & set(a)
    # Roughly uniform: every op shows up on every edge at about 1/5 of draws... among
    # unique cells 'none' is over-represented, so just check every op appears.
    draw = nb201.sample(2000, seed=1)
    for pos in range(6):
        assert {arch[pos] for arch in draw} == set(range(5))
    with pytest.raises(nb201.ArchError):
        nb201.sample(7000, seed=0)
