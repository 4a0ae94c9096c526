"""The RNG plan: one CPU `torch.Generator` per purpose, all saved in checkpoints.

Streams: `data` (epoch order, augmentation), `latent` (z and label draws), `noise` (penalty
interpolates, noise inputs) and `eval` (evaluation draws, so measuring never changes training).
Weight init and dropout use torch's global RNG, seeded with `seed` and saved too. Each stream
draws the *global* batch and every rank takes its slice, so a draw belongs to a global sample
index and runs with different world sizes see the same numbers.
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
        state = {name: g.get_state() for name, g in self.generators.items()}
        state["torch_global"] = torch.get_rng_state()
        return state

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        for name, g in self.generators.items():
            g.set_state(state[name])
        torch.set_rng_state(state["torch_global"])
