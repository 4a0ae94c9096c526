"""Distributed training on CPU (gloo, 2 processes) and gradient accumulation.

One `torch.multiprocessing.spawn` of 2 ranks runs every distributed scenario in one process group
(process start-up dominates the cost) and saves each rank's final weights; the tests compare them
with each other and with single-process runs of the same global batch.
"""
from __future__ import annotations

import os
import socket
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from gankit.errors import GankitError
from gankit.training import Trainer
from gankit.runs.checkpoint import model_tensors
from gankit.training.distributed import gather_rows, mean_over_ranks
from tests.conftest import tiny_config, tiny_images

STEPS, RESUMED_STEPS, BATCH = 3, 5, 16
# A model without BatchNorm (per-rank batch statistics would make 2 ranks differ from 1 by design).
NO_BN = ("seed-gan", "G.norm=none")
# StyleGAN2 with every per-sample draw: noise inputs, style mixing (p 0.9), lazy R1 and path length (every
# 2nd step) and DiffAugment. Minibatch stddev is off: it is a statistic of the per-process batch, like BatchNorm.
SG2 = ("stylegan2", "D.mbstd_num_channels=0", "reg.r1.gamma=1.0", "reg.r1.interval=2", "reg.pl.interval=2",
       "augment.diffaugment=color,translation,cutout")
SCENARIOS = {
    "no_bn": NO_BN,
    "no_bn_accum": NO_BN + ("batch_gpu=4",),  # 8 per rank in 2 rounds of 4
    # BatchNorm in G and D, d_first with G re-scoring the D step's fakes, lazy R1 (every 2nd D step).
    "bn_dfirst_lazy_r1": ("dcgan", "reg.r1.gamma=1.0", "reg.r1.interval=2"),
    "sg2": SG2,
    "sg2_accum": SG2 + ("batch_gpu=4",),
    # R1 and R2 on every D step, taken from D's own pass through DDP (a double backward over gloo).
    "r3gan": ("r3gan",),
    "r3gan_accum": ("r3gan", "batch_gpu=4"),
}
# Per-process statistics, not trained values: BatchNorm's running statistics and the mapping's w̄
# (DDP re-broadcasts rank 0's at each forward; w̄ only serves truncation).
PER_PROCESS = ("running_mean", "running_var", "w_avg")


def data():
    return tiny_images(n=64, resolution=8, classes=0)


def config(name: str, steps: int = STEPS):
    preset, *extra = SCENARIOS[name]
    return tiny_config(preset, *extra, "seed=5", steps=steps, batch=BATCH)


def weights(trainer: Trainer) -> dict[str, torch.Tensor]:
    return model_tensors(trainer.models())


def _worker(rank: int, world: int, tmp: str) -> None:
    """One rank: every scenario in turn; writes {scenario: weights} to rank<r>.pt."""
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{tmp}/rendezvous", rank=rank, world_size=world)
    try:
        results = {}
        for name in SCENARIOS:
            run_dir = Path(tmp) / f"run_no_bn_rank{rank}" if name == "no_bn" else None
            trainer = Trainer(config(name), run_dir, data=data())
            assert (trainer.rank, trainer.world) == (rank, world)
            results[name] = weights(trainer.train())
        results["gathered"] = {"rows": gather_rows(torch.full((2, 1), float(rank))),
                               "mean": torch.tensor(mean_over_ranks({"x": float(rank)})["x"])}
        torch.save(results, Path(tmp) / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory) -> tuple[Path, list[dict]]:
    tmp = tmp_path_factory.mktemp("ddp")
    mp.spawn(_worker, args=(2, str(tmp)), nprocs=2, join=True)
    return tmp, [torch.load(tmp / f"rank{r}.pt", weights_only=True) for r in range(2)]


def assert_close(ours: dict, ref: dict, lr: float, steps: int) -> None:
    """Float rounding only: DDP averages the two ranks' mean gradients, one process takes one mean.
    Adam divides by each gradient's magnitude, so measure in units of its step (as the seed test)."""
    assert ours.keys() == ref.keys()
    for key in ref:
        a, b = ours[key].float(), ref[key].float()
        assert (a - b).abs().max().item() < 0.05 * lr * steps, key
        assert ((a - b).norm() / b.norm().clamp_min(1e-12)).item() < 1e-4, key


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_both_ranks_hold_identical_parameters(two_ranks, name):
    _, (rank0, rank1) = two_ranks
    for key, value in rank0[name].items():
        if not key.endswith(PER_PROCESS):
            assert torch.equal(value, rank1[name][key]), (name, key)


def test_only_rank_0_writes_and_values_are_gathered(two_ranks):
    tmp, results = two_ranks
    assert (tmp / "run_no_bn_rank0" / "log.jsonl").exists() and (tmp / "run_no_bn_rank0" / "checkpoints").is_dir()
    assert not (tmp / "run_no_bn_rank1").exists()
    for r in results:
        assert r["gathered"]["rows"].flatten().tolist() == [0.0, 0.0, 1.0, 1.0]  # rank order
        assert r["gathered"]["mean"].item() == 0.5


@pytest.mark.parametrize("name", ["no_bn", "no_bn_accum"])
def test_two_processes_equal_one_process_with_the_same_global_batch(two_ranks, name):
    _, (rank0, _) = two_ranks
    single = weights(Trainer(config("no_bn"), data=data()).train())  # one process, no accumulation
    assert_close(rank0[name], single, config(name).optim.G.lr, STEPS)


@pytest.mark.parametrize("name", ["sg2", "sg2_accum"])
def test_stylegan2_noise_mixing_penalties_and_diffaugment_do_not_depend_on_the_process_count(two_ranks, name):
    """Each rank draws the global batch's noise and keeps its rows: 2 processes (and micro-batches) = 1 process."""
    _, (rank0, _) = two_ranks
    single = weights(Trainer(config("sg2"), data=data()).train())
    trained = {k: v for k, v in single.items() if not k.endswith(PER_PROCESS)}
    assert_close({k: rank0[name][k] for k in trained}, trained, config(name).optim.G.lr, STEPS)


@pytest.mark.parametrize("name", ["r3gan", "r3gan_accum"])
def test_penalties_from_the_d_pass_do_not_depend_on_the_process_count(two_ranks, name):
    _, (rank0, _) = two_ranks
    single = Trainer(config("r3gan"), data=data())
    assert single.penalty_inputs == {"reals", "fakes"}
    assert_close(rank0[name], weights(single.train()), config(name).optim.G.lr, STEPS)


def test_resume_a_two_process_run_in_one_process(two_ranks, tmp_path):
    tmp, _ = two_ranks
    run = tmp_path / "run"
    shutil.copytree(tmp / "run_no_bn_rank0", run)
    resumed = Trainer.resume(run, [f"steps={RESUMED_STEPS}"], data=data())
    assert (resumed.world, resumed.state.step) == (1, STEPS)
    assert resumed.state.cur_nimg == STEPS * BATCH
    straight = Trainer(config("no_bn", steps=RESUMED_STEPS), data=data()).train()
    assert_close(weights(resumed.train()), weights(straight), straight.cfg.optim.G.lr, RESUMED_STEPS)


def test_accumulation_gives_the_full_batch_update():
    full = Trainer(config("no_bn"), data=data()).train()
    accum = Trainer(tiny_config("seed-gan", "G.norm=none", "seed=5", "batch_gpu=4", steps=STEPS, batch=BATCH),
                    data=data())
    assert accum.accum == 4
    assert_close(weights(accum.train()), weights(full), full.cfg.optim.G.lr, STEPS)


def test_bad_accumulation_and_world_settings_are_clear_errors():
    with pytest.raises(GankitError, match="batch_gpu 5 must divide"):
        Trainer(tiny_config("seed-gan", "batch_gpu=5", batch=BATCH), data=data())
    with pytest.raises(GankitError, match="process group"):
        Trainer(tiny_config("seed-gan", batch=BATCH), data=data(), rank=0, world=2)


@pytest.mark.slow
def test_torchrun_launches_two_ranks(tmp_path):
    """The documented launch: `torchrun --nproc_per_node 2 -m gankit train ...` writes one run (rank 0)."""
    out = tmp_path / "run"
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(Path(__file__).parents[2]))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "gankit", "train", "toy-gan", "steps=3", "batch_size=16", "log.progress=false", "--out", str(out)]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (out / "checkpoints" / "latest").exists() and (out / "config.yaml").exists()


@pytest.mark.slow
def test_two_nodes_meet_through_torchrun_rendezvous(tmp_path):
    """Multi-node: two torchrun launchers (one process each) meet at a c10d rendezvous on this host;
    one rank 0 writes the run and its summary names the two processes."""
    with socket.socket() as s:
        s.bind(("localhost", 0))
        port = s.getsockname()[1]
    out = tmp_path / "run"
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(Path(__file__).parents[2]))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--nproc_per_node", "1",
           "--rdzv_backend", "c10d", "--rdzv_endpoint", f"localhost:{port}", "--rdzv_id", "gankit-test",
           "-m", "gankit", "train", "toy-gan", "steps=3", "batch_size=16", "log.progress=false", "--out", str(out)]
    nodes = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [node.communicate(timeout=240) for node in nodes]
    for node, (_, err) in zip(nodes, results):
        assert node.returncode == 0, err[-2000:]
    said = "".join(stdout for stdout, _ in results)
    assert said.count("training toy-gan") == 1 and "on 2 processes (DDP over gloo, 8 images per process" in said
    assert "2 processes (DDP over gloo" in (out / "summary.md").read_text()
