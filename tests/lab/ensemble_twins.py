"""An ensemble run and the single-seed run that must equal its member k (shared by the ensemble tests)."""
from __future__ import annotations

from gankit.config import load_config
from gankit.models.ensemble import ensemble_config
from gankit.training.trainer import Trainer


def ensemble_and_twin(tiny: dict, members: int, k: int) -> tuple[Trainer, Trainer]:
    """Untrained (ensemble of `members`, single run) where the single run starts from member k's weights and
    draws member k's slice of every draw: the trainer's own rank-k-of-E sharding, set after construction
    (no process group, no DDP, nothing to all-reduce)."""
    ens = Trainer(ensemble_config(load_config(tiny), members))
    single = Trainer(load_config(tiny, [f"batch_size={tiny['batch_size'] * members}"]))
    single.rank = single.feeder.rank = k
    single.world = single.feeder.world = members
    single.G.load_state_dict(ens.G.member(k).state_dict())
    single.D.load_state_dict(ens.D.member(k).state_dict())
    return ens, single
