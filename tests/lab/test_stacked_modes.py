"""The 1,000-mode lab's statistics: modes covered and the reverse KL to the uniform histogram."""
import math

import pytest
import torch

from gankit.lab.stacked_modes import mode_statistics


def test_stacked_modes_counts_and_kl():
    uniform = mode_statistics(torch.arange(1000).repeat(3))
    assert uniform["modes"] == 1000 and abs(uniform["reverse_kl"]) < 1e-9
    collapsed = mode_statistics(torch.full((50,), 7))
    assert collapsed["modes"] == 1 and collapsed["reverse_kl"] == pytest.approx(math.log(1000))
