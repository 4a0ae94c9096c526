"""Draws keyed by global sample index: any split of the global batch sees the rows one process sees."""
import pytest
import torch

from gankit.nn.draws import SampleDraws, per_sample, shared_generator


def normal(lead, g):
    return torch.randn(*lead, 3, generator=g)


def test_outside_a_rows_block_it_is_the_saved_generator():
    draws = SampleDraws(torch.Generator().manual_seed(1))
    assert torch.equal(per_sample(draws, 4, normal), torch.randn(4, 3, generator=torch.Generator().manual_seed(1)))
    assert shared_generator(draws) is draws.base
    g = torch.Generator().manual_seed(2)
    assert torch.equal(per_sample(g, 2, normal), torch.randn(2, 3, generator=torch.Generator().manual_seed(2)))


@pytest.mark.parametrize("split", [[8], [4, 4], [2, 2, 2, 2], [2, 6]])
def test_any_split_of_the_global_batch_draws_the_same_rows(split):
    draws = SampleDraws(torch.Generator().manual_seed(0))
    seed = draws.phase_seed()
    rows, blocks, start = [], [], 0
    for count in split:
        with draws.rows(seed, 8, start, count):
            rows.append(per_sample(draws, count, normal))  # [count, 3]
            blocks.append(per_sample(draws, 2 * count, normal).view(2, count, 3))  # reals and fakes in one pass
            scalar = torch.rand([], generator=shared_generator(draws))
        start += count
    with draws.rows(seed, 8, 0, 8):
        full = per_sample(draws, 8, normal)
        full_blocks = per_sample(draws, 16, normal).view(2, 8, 3)
        assert torch.rand([], generator=shared_generator(draws)) == scalar  # one decision for the whole batch
    assert torch.equal(torch.cat(rows), full)
    assert torch.equal(torch.cat(blocks, dim=1), full_blocks)


def test_a_rows_block_leaves_the_saved_stream_alone_and_checks_its_layout():
    draws = SampleDraws(torch.Generator().manual_seed(0))
    before = draws.base.get_state()
    with draws.rows(7, 4, 2, 2):
        per_sample(draws, 2, normal)
        with pytest.raises(ValueError, match="not whole blocks"):
            per_sample(draws, 3, normal)
    assert torch.equal(draws.base.get_state(), before) and draws.generator is draws.base
    with pytest.raises(ValueError, match="not inside"):
        with draws.rows(7, 4, 3, 2):
            pass
