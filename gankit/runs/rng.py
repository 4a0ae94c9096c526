"""The RNG plan: one CPU `torch.Generator` per purpose, all saved in checkpoints.

Streams: `data` (epoch order, x-flips), `latent` (z and label draws), `noise` (one seed per phase
for the per-sample draws of gankit.nn.draws: noise inputs, style mixing, penalty interpolates and
path-length noise, DiffAugment) and `eval` (evaluation draws, so measuring never changes training).
Weight init and dropout use torch's global RNGs, seeded with `seed` and saved too: the CPU one, and
on a GPU this process's CUDA one (rank 0's is saved; every rank restores it, as the CPU one). Each
stream draws the *global* batch and every rank (and micro-batch) takes its slice, so a draw belongs
to a global sample index and runs with different world sizes see the same numbers.
"""
from __future__ import annotations

import torch

STREAMS = ("data", "latent", "noise", "eval")


class TrainingRNG:
    def __init__(self, seed: int) -> None:
        self.generators = {name: torch.Generator().manual_seed(seed * 1000 + i + 1) for i, name in enumerate(STREAMS)}

    def __getattr__(self, name: str) -> torch.Generator:
        generators = self.__dict__.get("generators", {})
        if name in generators:
            return generators[name]
        raise AttributeError(name)

    def state_dict(self) -> dict[str, torch.Tensor]:
        """Every stream's state and torch's global ones (uint8 tensors, weights_only-loadable)."""
        state = {name: g.get_state() for name, g in self.generators.items()}
        state["torch_global"] = torch.get_rng_state()
        if torch.cuda.is_available() and torch.cuda.is_initialized():  # a CPU run never starts CUDA for this
            state["torch_cuda"] = torch.cuda.get_rng_state()  # the current device's
        return state

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        """Restore what `state_dict` saved (a checkpoint written on a CPU has no CUDA state to restore)."""
        for name, g in self.generators.items():
            g.set_state(state[name])
        torch.set_rng_state(state["torch_global"])
        if "torch_cuda" in state and torch.cuda.is_available():
            torch.cuda.set_rng_state(state["torch_cuda"])
