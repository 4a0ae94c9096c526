"""The playground job: settings validation, recipes as configs, frames, save/load as a run."""
import math

import pytest
import torch

import gankit
from gankit.errors import GankitError
from gankit.playground.job import RECIPES, PlaygroundJob, Settings, build_config

SMALL = {"width": 16, "depth": 2, "batch_size": 32}


@pytest.fixture
def job():
    jobs = []

    def make(**values):
        jobs.append(PlaygroundJob(Settings.from_dict({**SMALL, **values})))
        return jobs[-1]

    yield make
    for j in jobs:
        j.close()


@pytest.mark.parametrize("values, message", [
    ({"target": "moon"}, "target must be one of"),
    ({"recipe": "magic"}, "recipe must be one of"),
    ({"lr_g": 5.0}, r"lr_g must lie in \[1e-06, 0.1\]"),
    ({"width": 2.5}, "width must be a whole number"),
    ({"batch_size": "64"}, "batch_size must be a whole number"),
    ({"n_critic": True}, "n_critic must be a whole number"),
    ({"colour": 1}, "unknown setting 'colour'"),
    ({"target": "drawn", "points": []}, "a drawn target needs 1 to 500 points"),
    ({"target": "drawn", "points": [[0, 9]]}, "inside"),
    ({"pack": 5}, r"pack must lie in \[1, 4\]"),
    ({"pack": 3, "batch_size": 32}, "must be a multiple of pack"),
])
def test_bad_settings_are_one_clear_error(values, message):
    with pytest.raises(GankitError, match=message):
        Settings.from_dict(values)


def test_each_recipe_is_a_config_of_the_ordinary_trainer():
    losses = {name: build_config(Settings(recipe=name)).loss for name in RECIPES}
    assert losses == {"seed-gan": "bce", "nonsaturating": "nonsaturating", "seed-wgan": "wasserstein",
                      "wgan-gp": "wasserstein", "hinge": "hinge"}
    seed_wgan = build_config(Settings(recipe="seed-wgan", n_critic=5, width=32, depth=4))
    assert seed_wgan.reg.clip.value == 0.01 and seed_wgan.optim.D.name == "rmsprop" and seed_wgan.n_critic == 5
    assert seed_wgan.G["widths"] == [32] * 4 and seed_wgan.D["widths"] == [32] * 4
    assert build_config(Settings(recipe="wgan-gp")).reg.gp.weight == 0.1
    assert build_config(Settings(recipe="seed-gan")).phase_order == "g_first"


def test_steps_and_frames_on_the_ring(job):
    j = job(target="ring")
    j.step(5)
    assert j.wait_for_step(5)
    frame = j.frame
    assert frame["step"] == 5 and frame["dim"] == 2 and frame["modes"]["num_modes"] == 8
    assert len(frame["heat"]) == frame["heat_cells"] ** 2
    assert len(frame["arrows"]["at"]) == len(frame["arrows"]["push"]) == 96
    assert frame["curves"]["step"] == [1, 2, 3, 4, 5]
    assert all(math.isfinite(v) for v in frame["curves"]["loss/D"])
    # the arrows are -d(g_loss)/dx: a small move along them lowers the generator's loss
    t = j.trainer
    at, push = torch.tensor(frame["arrows"]["at"]), torch.tensor(frame["arrows"]["push"])
    with torch.no_grad():
        before = t.loss.g_loss(t.D(at))
        after = t.loss.g_loss(t.D(at + 1e-3 * push / push.norm(dim=1, keepdim=True).clamp_min(1e-12)))
    assert after < before


def test_packing_discriminator_trains_and_draws(job):
    j = job(target="ring", pack=4)
    assert j.trainer.cfg.D["pack"] == 4
    j.step(2)
    assert j.wait_for_step(2)
    frame = j.frame
    assert len(frame["heat"]) == frame["heat_cells"] ** 2 and len(frame["arrows"]["push"]) == 96


def test_start_pause_and_reset(job):
    j = job(target="grid", recipe="wgan-gp", n_critic=2)
    j.start()
    assert j.wait_for_step(3)
    j.pause()
    assert not j.running
    j.reset()
    assert j.trainer.state.step == 0 and j.frame["step"] == 0


def test_one_d_frame_has_the_optimal_discriminator(job):
    j = job(target="bimodal")
    j.step(2)
    assert j.wait_for_step(2)
    f = j.frame
    p_data, p_g, d_star = (torch.tensor(f[k]) for k in ("p_data", "p_g", "d_star"))
    mask = (p_data + p_g) > 0.05  # where the 4-decimal rounding of the densities is harmless
    assert torch.allclose(d_star[mask], (p_data / (p_data + p_g))[mask], atol=2e-3)
    assert abs(float(p_data.sum()) * (f["xs"][1] - f["xs"][0]) - 1) < 0.02  # a density over the view


def test_save_as_run_then_sample_and_load(job, tmp_path):
    j = job(target="drawn", points=[[0.5, 0.5], [-0.5, -1.0]])
    j.step(3)
    assert j.wait_for_step(3)
    run = j.save(tmp_path)
    assert (run / "config.yaml").exists() and (run / "log.jsonl").read_text().count("\n") == 3
    for made in ("samples/00000003.png", "samples/00000003.npy", "loss.png", "summary.md"):  # what `gankit train` leaves
        assert (run / made).is_file(), made
    assert "](samples/00000003.png)" in (run / "summary.md").read_text()  # the grid, captioned with its data
    G = gankit.load(run)
    assert G.sample(10, seed=0).shape == (10, 2)
    with pytest.raises(GankitError, match="already exists"):
        j.save(tmp_path, run.name)
    with pytest.raises(GankitError, match="a run name uses"):
        j.save(tmp_path, "../escape")
    other = job(target="ring")
    other.load(run)
    assert other.settings.target == "drawn" and other.trainer.state.step == 3
    for (name, loaded), saved in zip(other.trainer.G.state_dict().items(), j.trainer.G.state_dict().values()):
        assert torch.equal(loaded, saved), name


def test_saving_a_diverged_job_leaves_no_folder(job, tmp_path):
    j = job(target="ring")
    with torch.no_grad():
        next(j.trainer.G.parameters()).fill_(float("nan"))
    with pytest.raises(GankitError, match="diverged"):
        j.save(tmp_path, "bad")
    assert not (tmp_path / "bad").exists()
