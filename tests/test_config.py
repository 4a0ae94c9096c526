"""Config: presets, bases, overrides, validation with one-line errors, the resolved YAML, info."""
import pytest
import yaml

from gankit.config import config_help, load_config, preset_names, to_yaml, valid_keys
from gankit.errors import GankitError

REQUIRED_PRESETS = {"seed-gan", "seed-wgan", "seed-cgan", "dcgan", "cdcgan", "wgan-gp", "sngan"}


def test_presets_exist_and_describe_themselves():
    assert REQUIRED_PRESETS <= set(preset_names())
    for name in preset_names():
        cfg = load_config(name)
        assert cfg.description, name
        assert cfg.steps or cfg.kimg, name


def test_seed_presets_encode_the_seed_loops():
    gan = load_config("seed-gan")
    assert (gan.phase_order, gan.reuse_fakes, gan.loss, gan.G["bn_eps"]) == ("g_first", True, "bce", 0.8)
    wgan = load_config("seed-wgan")
    assert (wgan.n_critic, wgan.d_reuse_real, wgan.reg.clip.value, wgan.optim.D.name, wgan.optim.D.lr) == (5, True, 0.01, "rmsprop", 5e-5)
    gp = load_config("wgan-gp")
    assert (gp.reg.gp.weight, gp.n_critic, gp.optim.G.betas, gp.D["norm"]) == (10.0, 5, [0.0, 0.9], "layer")  # per-sample norm


def test_base_inheritance_and_overrides():
    cfg = load_config("cdcgan", ["optim.G.lr=1e-3", "G.base_channels=32", "steps=7", "augment.xflip=true"])
    assert cfg.conditional and cfg.model == "dcgan" and cfg.optim.G.lr == 1e-3 and cfg.optim.D.lr == 2e-4
    assert cfg.G["base_channels"] == 32 and cfg.steps == 7 and cfg.augment.xflip


def test_model_name_and_yaml_file(tmp_path):
    assert load_config("mlp").model == "mlp"
    path = tmp_path / "mine.yaml"
    path.write_text("base: seed-gan\nsteps: 5\n")
    cfg = load_config(str(path))
    assert cfg.steps == 5 and cfg.loss == "bce"


def test_resolved_yaml_round_trips():
    cfg = load_config("wgan-gp", ["seed=4"])
    assert load_config(yaml.safe_load(to_yaml(cfg))) == cfg


@pytest.mark.parametrize("spec,overrides,message", [
    ("nope", [], "unknown preset or config 'nope'; presets: .*dcgan"),
    ("dcgan", ["batchsize=3"], "unknown config key 'batchsize'; valid: .*batch_size"),
    ("dcgan", ["optim.G.lrr=3"], "unknown config key 'optim.G.lrr'; valid: name, lr"),
    ("dcgan", ["batch_size=many"], "config key 'batch_size'"),
    ("dcgan", ["batch_size=0"], "'batch_size' must be a positive integer"),
    ("dcgan", ["loss=fancy"], "unknown loss 'fancy'; valid: bce, hinge"),
    ("dcgan", ["model=unet"], "unknown model 'unet'; valid: dcgan, .*mlp"),
    ("dcgan", ["phase_order=sideways"], "d_first or g_first"),
    ("dcgan", ["optim.D.betas=[0.5]"], "optim.D.betas"),
    ("dcgan", ["steps"], "must look like key=value"),
    ("wgan-gp", ["reuse_fakes=true"], "n_critic=1"),
])
def test_bad_input_is_one_clear_line(spec, overrides, message):
    with pytest.raises(GankitError, match=message) as err:
        load_config(spec, overrides)
    assert "\n" not in str(err.value)


def test_unknown_model_option_lists_valid_ones():
    from gankit.models import resolve_model_options
    from tests.conftest import tiny_images

    with pytest.raises(GankitError, match="unknown option G.widht for this model; valid: .*widths"):
        resolve_model_options(load_config("seed-gan", ["G.widht=3"]), tiny_images(resolution=28))


def test_help_covers_every_key():
    text = config_help(load_config("dcgan"))
    for key in valid_keys() + ["optim:", "betas", "gp:", "clip:", "kimg"]:
        assert key.rstrip(":") in text
    assert all("#" in line for line in text.splitlines())


@pytest.mark.parametrize("text,where", [
    ("model: dcgan\noptim:\n  G: {lr: 0.1\ndata: digits\n", "line 4, column 5"),
    ("model: dcgan\nsteps: 3\n  batch_size: 4\n", "line 3, column 13: mapping values are not allowed here"),
])
def test_yaml_errors_give_line_and_column(tmp_path, text, where):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(GankitError) as err:
        load_config(path)
    assert where in str(err.value) and "\n" not in str(err.value)


def test_skip_bad_option():
    assert load_config("dcgan").skip_bad is False and load_config("dcgan", ["skip_bad=true"]).skip_bad is True
    with pytest.raises(GankitError, match=r"'data' takes one value, not sub-keys .*top-level keys: skip_bad=true"):
        load_config("dcgan", ["data.skip_bad=true"])


def test_family_options_are_read_from_source_with_their_help():
    from gankit.config import family_option_rows

    rows = {p: {name: (value, text) for name, value, text in r} for p, r in
            family_option_rows(load_config("stylegan2", ["G.w_dim=64", "G.bogus=1"])).items()}
    assert rows["G"]["input"] == ("const", "const | fourier (StyleGAN3 config B)")  # the family's own comment
    assert rows["G"]["mapping_lr"] == (0.01, "lr multiplier of the mapping network")  # its base class's
    assert rows["G"]["truncation_cutoff"][1].startswith("ψ applies to every w")  # the subclass's comment wins
    assert rows["G"]["truncation_cutoff"][0] is None and rows["G"]["w_dim"] == (64, "intermediate latent (w) size")
    assert rows["G"]["bogus"] == (1, "not an option of this family")
    assert rows["D"]["pack"][1].startswith("PacGAN") and "conv_clamp" in rows["D"]


def test_family_options_read_from_source_match_the_dataclasses():
    import dataclasses

    import gankit.models  # noqa: F401
    from gankit.config import family_option_rows
    from gankit.registry import MODELS

    for model in MODELS.names():
        family, rows = MODELS.get(model), family_option_rows(load_config(model))
        for prefix, cls in (("G", family.G_options), ("D", family.D_options)):
            real = [(f.name, f.default if f.default is not dataclasses.MISSING else f.default_factory())
                    for f in dataclasses.fields(cls)]
            set_here = getattr(load_config(model), prefix)
            assert [(n, v) for n, v, _ in rows[prefix] if n not in set_here] == [r for r in real if r[0] not in set_here]
            assert [n for n, _, _ in rows[prefix]] == [n for n, _ in real], (model, prefix)
