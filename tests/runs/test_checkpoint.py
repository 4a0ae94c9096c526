"""Checkpoints: round trip, atomic layout, corruption handling, exact resume, and gankit.load."""
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import gankit
from gankit.errors import GankitError
from gankit.training import Trainer
from gankit.runs.checkpoint import list_checkpoints, load_checkpoint, resolve_checkpoint, save_checkpoint
from gankit.viz import to_uint8
from tests.conftest import tiny_config, tiny_images


def _weights(trainer: Trainer) -> dict:
    return {f"{name}.{k}": v.clone() for name, m in trainer.models().items() for k, v in m.state_dict().items()}


def _train(run_dir, steps, *extra, data=None):
    cfg = tiny_config("cdcgan", "ema.kimg=0.01", "log.sample_kimg=0.016", "checkpoint.kimg=0.024", *extra, steps=steps)
    return Trainer(cfg, run_dir, data=data or tiny_images()).train()


def test_checkpoint_layout_and_round_trip(tmp_path):
    trainer = _train(tmp_path / "run", 4)
    ckpts = list_checkpoints(tmp_path / "run")
    assert [p.name for p in ckpts] == ["00000003", "00000004"]  # every 24 images = 3 steps of 8, and the end
    latest = ckpts[-1]
    assert (tmp_path / "run" / "checkpoints" / "latest").read_text().strip() == latest.name
    manifest = json.loads((latest / "manifest.json").read_text())
    assert manifest["format_version"] == 1 and set(manifest["sha256"]) == {"model.safetensors", "state.pt", "config.yaml"}
    ck = load_checkpoint(tmp_path / "run")
    assert {k.split(".")[0] for k in ck.tensors} == {"G", "D", "G_ema"}
    assert not any(".module." in k or k.startswith("module.") for k in ck.tensors)
    assert any("running_mean" in k for k in ck.tensors)  # buffers too
    for key, value in _weights(trainer).items():
        assert torch.equal(ck.tensors[key], value), key
    assert ck.state["counters"]["step"] == 4 and ck.state["counters"]["cur_nimg"] == 32
    torch.load(latest / "state.pt", weights_only=True)  # no pickled code


def test_keeps_the_newest_three(tmp_path):
    _train(tmp_path / "run", 12, "checkpoint.kimg=0.008")
    assert [p.name for p in list_checkpoints(tmp_path / "run")] == ["00000010", "00000011", "00000012"]


def test_resume_is_bit_identical_with_hooks_in_between(tmp_path):
    """Interrupted at step 5 and resumed to 9 == 9 straight steps (samples and checkpoints written meanwhile)."""
    data = tiny_images()
    straight = _train(tmp_path / "a", 9, data=data)
    _train(tmp_path / "b", 5, data=data)
    resumed = Trainer.resume(tmp_path / "b", ["steps=9"], data=data).train()
    assert resumed.state.step == 9 and resumed.state.cur_nimg == straight.state.cur_nimg
    a, b = _weights(straight), _weights(resumed)
    assert all(torch.equal(a[k], b[k]) for k in a)
    log = [json.loads(line)["step"] for line in (tmp_path / "b" / "log.jsonl").read_text().splitlines()]
    assert log == list(range(1, 10))  # one line per step (log.every=1), none lost, none repeated


def test_resume_skips_a_corrupt_checkpoint(tmp_path):
    data = tiny_images()
    _train(tmp_path / "run", 6, data=data)
    newest = list_checkpoints(tmp_path / "run")[-1]
    blob = newest / "model.safetensors"
    blob.write_bytes(blob.read_bytes()[:100])  # truncated
    with pytest.raises(GankitError, match="model.safetensors"):
        resolve_checkpoint(newest)
    with pytest.warns(UserWarning, match="skipping"):
        trainer = Trainer.resume(tmp_path / "run", data=data)
    assert trainer.state.step == 3  # the previous good checkpoint, untouched
    assert blob.stat().st_size == 100


def test_incomplete_checkpoint_is_ignored(tmp_path):
    _train(tmp_path / "run", 3)
    (tmp_path / "run" / "checkpoints" / ".tmp-00000009-1").mkdir()  # a crash mid-write
    assert resolve_checkpoint(tmp_path / "run").name == "00000003"
    with pytest.raises(GankitError, match="no complete checkpoint"):
        resolve_checkpoint(tmp_path / "run" / "samples")
    with pytest.raises(GankitError, match="no run or checkpoint"):
        resolve_checkpoint(tmp_path / "nowhere")


def test_load_sample_reproduces_the_last_training_grid(tmp_path):
    trainer = _train(tmp_path / "run", 4)
    G = gankit.load(tmp_path / "run")
    assert not G.training and G.c_dim == 10 and G.img_resolution == 8
    grid = sorted((tmp_path / "run" / "samples").glob("*.png"))[-1]
    samples = G.sample(trainer.cfg.log.sample_n, seed=trainer.cfg.seed)
    from gankit.viz import make_grid

    expected = make_grid(samples)
    saved = np.asarray(Image.open(grid))
    scale = saved.shape[0] // expected.shape[0]
    assert np.array_equal(saved[::scale, ::scale], expected[..., 0])
    assert torch.equal(to_uint8(samples), to_uint8(gankit.load(tmp_path / "run").sample(4, seed=trainer.cfg.seed)))
    assert G.sample(3, c=2).shape == (3, 1, 8, 8)
    with pytest.raises(GankitError, match="class labels"):
        G.sample(2, c=torch.tensor([0, 11]))
    assert not torch.equal(G.sample(4, seed=1), G.sample(4, seed=2))


def test_load_returns_g_without_ema(tmp_path):
    cfg = tiny_config("dcgan", steps=1)
    Trainer(cfg, tmp_path / "run", data=tiny_images()).train()
    G = gankit.load(tmp_path / "run")
    assert G.sample(2).shape == (2, 1, 8, 8)
    with pytest.raises(GankitError, match="no G_ema"):
        gankit.load(tmp_path / "run", which="G_ema")


def test_ctrl_c_saves_a_checkpoint_and_resume_continues(tmp_path):
    from gankit.training import Hook

    class Interrupt(Hook):
        def after_step(self, t):
            if t.state.step == 3:
                raise KeyboardInterrupt

    data = tiny_images()
    cfg = tiny_config("dcgan", steps=6)
    with pytest.raises(GankitError, match="interrupted at step 3; saved .*--resume"):
        Trainer(cfg, tmp_path / "run", data=data, hooks=[Interrupt()]).train()
    resumed = Trainer.resume(tmp_path / "run", data=data)
    assert resumed.state.step == 3
    assert resumed.train().state.step == 6


def test_feeder_order_and_flips_do_not_depend_on_world_size():
    """Two ranks' slices of a global batch equal one rank's whole batch (data order and x-flips)."""
    from gankit.training.feed import DataFeeder

    data = tiny_images(n=40)

    def feeder(rank, world):
        return DataFeeder(data, torch.Generator().manual_seed(5), torch.device("cpu"), rank, world, xflip=True)

    single, ranks = feeder(0, 1), [feeder(0, 2), feeder(1, 2)]
    for _ in range(7):  # crosses epoch boundaries (40 images, batch 8)
        whole, labels = single.next(8)
        parts = [f.next(8) for f in ranks]
        assert torch.equal(whole, torch.cat([p[0] for p in parts]))
        assert torch.equal(labels, torch.cat([p[1] for p in parts]))
    with pytest.raises(GankitError, match="divisible"):
        ranks[0].next(7)


def _save(run, name, step, keep=3, progress_in_manifest=True):
    path = save_checkpoint(run, name, {"G": torch.nn.Linear(1, 1)}, {"counters": {"step": step, "cur_nimg": 8 * step}},
                           "model: x\n", keep)
    if not progress_in_manifest:  # a checkpoint written before manifests held the progress
        manifest = json.loads((path / "manifest.json").read_text())
        del manifest["progress"]
        (path / "manifest.json").write_text(json.dumps(manifest))
    return path


def test_pruning_orders_by_progress_and_keeps_what_it_just_wrote(tmp_path):
    run = tmp_path / "run"
    _save(run, "a", 3, progress_in_manifest=False)
    _save(run, "b", 1)
    _save(run, "c", 2, keep=2)  # by name c would be the newest; by progress a (step 3) is
    assert [p.name for p in list_checkpoints(run)] == ["c", "a"]
    # resumed from an older checkpoint with keep=1: the one just written survives
    _save(run, "00000010", 10)
    _save(run, "00000006", 6, keep=1)
    assert [p.name for p in list_checkpoints(run)] == ["00000006"]
    assert (run / "checkpoints" / "latest").read_text().strip() == "00000006"


def test_the_checkpoint_folder_is_fsynced_after_the_renames(tmp_path, monkeypatch):
    events = []
    real_replace, real_fsync = os.replace, os.fsync
    monkeypatch.setattr(os, "replace", lambda a, b: (events.append(("rename", Path(b))), real_replace(a, b)))
    monkeypatch.setattr(os, "fsync", lambda fd: (events.append(("fsync", Path(os.readlink(f"/proc/self/fd/{fd}")))),
                                                 real_fsync(fd)))
    final = _save(tmp_path / "run", "00000001", 1)
    root = final.parent
    renamed = events.index(("rename", final))
    assert ("fsync", root) in events[renamed:]  # the new checkpoint's name is durable ...
    assert events.index(("fsync", root), renamed) < events.index(("rename", root / "latest"))  # ... before latest names it
    assert events[-1] == ("fsync", root)  # and so is latest
