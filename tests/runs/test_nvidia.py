"""NVIDIA snapshots without NVIDIA's code: the test writes them itself in the persistence record format.

`Persistent` stands in for a `torch_utils.persistence` class: its `__reduce__` emits the global
`torch_utils.persistence._reconstruct_persistent_obj` with NVIDIA's meta dict (type, version,
module_src, class_name, state = the module's __dict__ with _init_args/_init_kwargs, _parameters,
_buffers, _modules, numpy attributes). The records are built from a gankit StyleGAN2's own
weights, converted to NVIDIA's names and conventions, so the snapshot's outputs are known.
"""
from __future__ import annotations

import importlib.util
import io
import math
import os
import pickle
import sys
import types
from collections import OrderedDict
from unittest import mock

import numpy as np
import pytest
import torch
from torch import nn

import gankit
from gankit.config import build_options
from gankit.errors import GankitError
from gankit.models import build_discriminator, build_generator
from gankit.registry import MODELS
from tests.conftest import run_cli, tiny_config, tiny_images


def _reconstruct_persistent_obj(meta):  # the stand-in global; gankit must never call it
    raise AssertionError("a snapshot's reconstruct function was called")


_reconstruct_persistent_obj.__module__ = "torch_utils.persistence"


def dumps(obj) -> bytes:
    """pickle.dumps with the stand-in reachable under NVIDIA's module name (only while pickling)."""
    package, module = types.ModuleType("torch_utils"), types.ModuleType("torch_utils.persistence")
    module._reconstruct_persistent_obj = _reconstruct_persistent_obj
    package.persistence = module
    with mock.patch.dict(sys.modules, {"torch_utils": package, "torch_utils.persistence": module}):
        return pickle.dumps(obj)


class Persistent:
    """One persistence record: pickles exactly as NVIDIA's persistent classes do."""

    def __init__(self, class_name: str, attrs: dict | None = None, params: dict | None = None,
                 buffers: dict | None = None, children: dict | None = None, init_kwargs: dict | None = None):
        self.class_name = class_name
        self.state = {"training": False, "_parameters": OrderedDict((k, nn.Parameter(v.clone(), requires_grad=False))
                                                                   for k, v in (params or {}).items()),
                      "_buffers": OrderedDict(buffers or {}), "_non_persistent_buffers_set": set(),
                      "_modules": OrderedDict(children or {}), "_forward_hooks": OrderedDict(),
                      "_init_args": (), "_init_kwargs": dict(init_kwargs or {}), **(attrs or {})}

    def __reduce__(self):
        meta = dict(type="class", version=6, module_src="raise SystemExit('module source must never run')\n",
                    class_name=self.class_name, state=self.state)
        return _reconstruct_persistent_obj, (meta,)


def _fc(layer, activation="linear") -> Persistent:
    return Persistent("FullyConnectedLayer", {"activation": activation, "bias_gain": np.float64(layer.bias_gain),
                                              "weight_gain": np.float64(layer.weight_gain)},
                      {"weight": layer.weight, "bias": layer.bias})


def _filter(taps=(1.0, 3, 3, 1)) -> torch.Tensor:
    f = torch.tensor(taps)
    return torch.outer(f, f) / f.sum() ** 2


def _synthesis_layer(conv, up: bool) -> Persistent:
    weight = conv.weight.flip([2, 3]) if up else conv.weight  # NVIDIA's up-sampling conv is a true convolution
    params = {"weight": weight, "bias": conv.bias}
    buffers = {"resample_filter": _filter()}
    if conv.use_noise:
        params["noise_strength"], buffers["noise_const"] = conv.noise_strength, conv.noise_const
    kind = "SynthesisLayer" if conv.use_noise else "ToRGBLayer"
    return Persistent(kind, {"activation": "lrelu", "use_noise": conv.use_noise, "conv_clamp": conv.conv_clamp,
                             "up": 2 if up else 1}, params, buffers, {"affine": _fc(conv.affine)})


def mapping_record(m) -> Persistent:
    """NVIDIA's MappingNetwork record of a gankit mapping network."""
    fcs = OrderedDict((f"fc{i}", _fc(layer, "lrelu")) for i, layer in enumerate(m.layers))
    if m.embed is not None:
        fcs["embed"] = _fc(m.embed)
    return Persistent("MappingNetwork", {"z_dim": m.z_dim, "c_dim": m.c_dim, "w_dim": m.w_dim, "num_layers": len(m.layers),
                                         "w_avg_beta": m.w_avg_beta}, buffers={"w_avg": m.w_avg}, children=fcs)


def discriminator_record(D) -> Persistent:
    """NVIDIA's resnet Discriminator record of a gankit ResidualDiscriminator."""
    R, opts = D.img_resolution, dict(channel_base=D.channel_base, channel_max=D.channel_max)

    def conv(layer) -> Persistent:
        params = {"weight": layer.weight} if layer.bias is None else {"weight": layer.weight, "bias": layer.bias}
        return Persistent("Conv2dLayer", {"conv_clamp": D.conv_clamp, "activation": layer.activation}, params,
                          {"resample_filter": _filter()})

    d_blocks = OrderedDict()
    for i, block in enumerate(D.blocks):
        res = R >> i
        kids = OrderedDict(fromrgb=conv(D.from_rgb)) if i == 0 else OrderedDict()
        kids.update(conv0=conv(block.conv0), conv1=conv(block.conv1), skip=conv(block.skip))
        d_blocks[f"b{res}"] = Persistent("DiscriminatorBlock", {"architecture": "resnet"}, buffers={"resample_filter": _filter()},
                                         children=kids)
    ep = D.epilogue
    d_blocks["b4"] = Persistent("DiscriminatorEpilogue", {"architecture": "resnet"}, children=OrderedDict(
        mbstd=Persistent("MinibatchStdLayer", {"group_size": ep.mbstd.group_size, "num_channels": ep.mbstd.num_channels}),
        conv=conv(ep.conv), fc=_fc(ep.fc, "lrelu"), out=_fc(ep.head.out)))
    head = ep.head
    if head.mapping is not None:  # NVIDIA's D maps labels through a mapping network (no w_avg)
        hm = head.mapping
        kids = OrderedDict((f"fc{i}", _fc(layer, "lrelu")) for i, layer in enumerate(hm.layers))
        kids["embed"] = _fc(hm.embed)
        d_blocks["mapping"] = Persistent("MappingNetwork", {"z_dim": 0, "c_dim": D.c_dim, "w_dim": head.cmap_dim,
                                                            "num_layers": len(hm.layers), "w_avg_beta": None},
                                         children=kids)
    disc = Persistent("Discriminator", {"c_dim": D.c_dim, "img_resolution": R, "img_channels": D.img_channels},
                      children=d_blocks, init_kwargs=dict(opts, c_dim=D.c_dim, img_resolution=R, img_channels=D.img_channels))
    return disc


def stylegan2_records(G, D, architecture: str = "skip") -> tuple[Persistent, Persistent]:
    """NVIDIA-format records of a gankit StyleGAN2 G and D (a conditional D needs D.c_mapping_layers > 0)."""
    R, opts = G.img_resolution, dict(channel_base=G.channel_base, channel_max=G.channel_max)
    blocks = OrderedDict()
    for i, block in enumerate(G.synthesis.blocks):
        kids = OrderedDict() if block.first else OrderedDict(conv0=_synthesis_layer(block.conv0, up=True))
        kids["conv1"] = _synthesis_layer(block.conv1, up=False)
        kids["torgb"] = _synthesis_layer(block.torgb, up=False)
        blocks[f"b{block.resolution}"] = Persistent(
            "SynthesisBlock", {"architecture": architecture, "resolution": block.resolution, "use_fp16": False},
            {"const": block.const} if block.first else {}, {"resample_filter": _filter()}, kids)
    synthesis = Persistent("SynthesisNetwork", {"num_fp16_res": 0, "block_resolutions": np.array([4, 8]),
                                                "w_dim": G.w_dim}, children=blocks, init_kwargs=opts)
    mapping = mapping_record(G.mapping)
    shape = {"z_dim": G.z_dim, "c_dim": G.c_dim, "w_dim": G.w_dim, "img_resolution": R, "img_channels": G.img_channels}
    gen = Persistent("Generator", shape, children={"synthesis": synthesis, "mapping": mapping},
                     init_kwargs=dict(shape, mapping_kwargs={"num_layers": len(G.mapping.layers)}, **opts))
    return gen, discriminator_record(D)


def stylegan3_records(G, D) -> tuple[Persistent, Persistent]:
    """NVIDIA-format records of a gankit StyleGAN3 G (T or R; filters and schedule as numpy attributes) and D."""
    synth, widen = G.synthesis, 2 if G.config == "r" else 1
    inp = synth.input
    kids = OrderedDict(input=Persistent("SynthesisInput", {"size": np.array([inp.size, inp.size]),
                                                           "sampling_rate": np.float64(inp.sampling_rate)},
                                        {"weight": inp.weight}, {"transform": inp.transform, "freqs": inp.freqs,
                                                                 "phases": inp.phases}, {"affine": _fc(inp.affine)}))
    names = []
    for i, layer in enumerate(synth.layers):
        names.append(f"L{i}_{layer.out_size}_{layer.out_channels}")
        buffers = {"magnitude_ema": layer.magnitude_ema, "up_filter": layer.up_filter, "down_filter": layer.down_filter}
        kids[names[-1]] = Persistent("SynthesisLayer", {
            "conv_kernel": layer.conv_kernel, "conv_clamp": layer.conv_clamp, "magnitude_ema_beta": 0.999,
            "up_factor": layer.up, "down_factor": layer.down, "padding": list(layer.padding),
            "out_size": np.broadcast_to(np.asarray(layer.out_size), [2]), "is_torgb": layer.is_torgb},
            {"weight": layer.weight, "bias": layer.bias}, buffers, {"affine": _fc(layer.affine)})
    opts = dict(channel_base=G.channel_base * widen, channel_max=G.channel_max * widen)
    layer_kwargs = dict(conv_kernel=1 if G.config == "r" else 3, use_radial_filters=G.config == "r", magnitude_ema_beta=0.999)
    synthesis = Persistent("SynthesisNetwork", {"num_layers": len(names) - 1, "num_critical": G.num_critical,
                                                "margin_size": G.margin_size, "output_scale": 0.25, "num_fp16_res": 4,
                                                "layer_names": names}, children=kids,
                           init_kwargs=dict(opts, num_layers=len(names) - 1, num_critical=G.num_critical,
                                            margin_size=G.margin_size, **layer_kwargs))
    shape = {"z_dim": G.z_dim, "c_dim": G.c_dim, "w_dim": G.w_dim, "img_resolution": G.img_resolution,
             "img_channels": G.img_channels}
    gen = Persistent("Generator", shape, children={"synthesis": synthesis, "mapping": mapping_record(G.mapping)},
                     init_kwargs=dict(shape, **opts, **layer_kwargs))
    return gen, discriminator_record(D)


def tiny_networks(preset: str, *extra: str, seed: int = 0):
    """A gankit G, G_ema and D (8×8 or 16×16, RGB) with every parameter and buffer away from its init."""
    res = 16 if preset.startswith("stylegan3") else 8
    overrides = [f"G.img_resolution={res}", "G.img_channels=3", "G.z_dim=8", "G.w_dim=8", "G.channel_base=64",
                 "G.channel_max=8", f"D.img_resolution={res}", "D.img_channels=3", "D.c_mapping_layers=2",
                 "D.channel_base=64", "D.channel_max=8", "D.mbstd_group_size=2", *extra]
    cfg = gankit.load_config(preset, overrides)
    torch.manual_seed(seed)
    family = MODELS.get(cfg.model)
    nets = [build_generator(cfg), build_generator(cfg), build_discriminator(family, build_options(family.D_options, cfg.D, "D"))]
    with torch.no_grad():
        for net in nets:
            for name, p in list(net.named_parameters()) + list(net.named_buffers()):
                if name != "pl_mean" and not name.endswith(("resample_filter", "up_filter", "down_filter", "freqs",
                                                            "phases", "transform")):
                    p.add_(torch.randn_like(p) * 0.2 * (p.abs().mean() + 1))
    for net, opts in zip(nets, (cfg.G, cfg.G, cfg.D)):
        for key in ("channel_base", "channel_max", "config", "num_critical", "margin_size"):
            if key in opts:
                setattr(net, key, opts[key])
        net.eval()
    return nets


def tiny_stylegan2(c_dim: int = 0, clamp: float | None = None, seed: int = 0):
    """A gankit StyleGAN2 G, G_ema and D (8×8, RGB), perturbed, optionally conditional and clamped."""
    extra = [f"G.c_dim={c_dim}", f"D.c_dim={c_dim}"]
    extra += [f"G.conv_clamp={clamp}", f"D.conv_clamp={clamp}"] if clamp is not None else []
    return tiny_networks("stylegan2", *extra, seed=seed)


def write_snapshot(path, G, G_ema, D, architecture="skip", **extra):
    if hasattr(G.synthesis, "layers"):
        (g, d), (g_ema, _) = stylegan3_records(G, D), stylegan3_records(G_ema, D)
    else:
        (g, d), (g_ema, _) = stylegan2_records(G, D, architecture), stylegan2_records(G_ema, D, architecture)
    data = dict(G=g, D=d, G_ema=g_ema, augment_pipe=None, training_set_kwargs={"path": "/data/x.zip", "xflip": False})
    data.update(extra)
    path.write_bytes(dumps(data))
    return path


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory):
    G, G_ema, D = tiny_stylegan2()
    return write_snapshot(tmp_path_factory.mktemp("nvidia") / "snapshot.pkl", G, G_ema, D), (G, G_ema, D)


def _inputs(n=4, z_dim=8, c_dim=0):
    gen = torch.Generator().manual_seed(3)
    z = torch.randn(n, z_dim, generator=gen)
    c = nn.functional.one_hot(torch.arange(n) % c_dim, c_dim).float() if c_dim else None
    return z, c, torch.randn(n, 3, 8, 8, generator=gen)


@pytest.mark.parametrize("c_dim, clamp", [(0, None), (3, 0.5)])
def test_snapshot_networks_reproduce_the_networks_they_were_written_from(tmp_path, c_dim, clamp):
    G, G_ema, D = tiny_stylegan2(c_dim, clamp, seed=c_dim)
    pkl = write_snapshot(tmp_path / "s.pkl", G, G_ema, D)
    z, c, x = _inputs(c_dim=c_dim)
    with torch.no_grad():
        for which, net in (("G_ema", G_ema), ("G", G)):
            loaded = gankit.load(pkl, which=which)
            assert not loaded.training and not any(p.requires_grad for p in loaded.parameters())
            for psi, cutoff in ((1.0, None), (0.5, 2)):
                assert torch.allclose(loaded(z, c, psi=psi, cutoff=cutoff), net(z, c, psi=psi, cutoff=cutoff), atol=1e-6)
        assert torch.equal(gankit.load(pkl).mapping.w_avg, G_ema.mapping.w_avg)  # default: G_ema
        loaded_d = gankit.load(pkl, which="D")
        assert loaded_d.epilogue.head.mapping is None or len(loaded_d.epilogue.head.mapping.layers) == 2
        assert torch.allclose(loaded_d(x, c), D(x, c), atol=1e-6)


@pytest.mark.parametrize("preset", ["stylegan3-t", "stylegan3-r"])
def test_stylegan3_snapshots_reproduce_their_networks(tmp_path, preset):
    G, G_ema, D = tiny_networks(preset, "G.num_layers=3", "G.num_critical=1", "G.margin_size=2", "G.c_dim=2",
                                "D.c_dim=2", seed=5)
    pkl = write_snapshot(tmp_path / "s.pkl", G, G_ema, D)
    z, c, _ = _inputs(c_dim=2)
    x = torch.randn(4, 3, 16, 16)
    with torch.no_grad():
        for which, net in (("G_ema", G_ema), ("G", G), ("D", D)):
            loaded = gankit.load(pkl, which=which)
            ours, theirs = (loaded(x, c), net(x, c)) if which == "D" else (loaded(z, c, psi=0.7), net(z, c, psi=0.7))
            assert torch.allclose(ours, theirs, atol=1e-6), which
        assert gankit.load(pkl).config.G["config"] == preset[-1]


def test_import_writes_a_run_that_loads_like_the_snapshot(snapshot, tmp_path, monkeypatch, capsys):
    pkl, _ = snapshot
    code, out, err = run_cli(monkeypatch, capsys, "import", pkl, "--out", tmp_path / "run")
    assert code == 0, err
    run = tmp_path / "run"
    assert (run / "nvidia.json").is_file() and "/data/x.zip" in (run / "nvidia.json").read_text()
    z, _, x = _inputs()
    with torch.no_grad():
        for which in ("G_ema", "G", "D"):
            a, b = gankit.load(pkl, which=which), gankit.load(run, which=which)
            assert a.state_dict().keys() == b.state_dict().keys()
            assert all(torch.equal(v, b.state_dict()[k]) for k, v in a.state_dict().items()), which
        assert torch.equal(gankit.load(run)(z), gankit.load(pkl)(z))
    cfg = gankit.load(run).config
    assert (cfg.model, cfg.G["channel_max"], cfg.G["mapping_layers"], cfg.D["mbstd_group_size"]) == ("stylegan2", 8, 2, 2)
    code, _, err = run_cli(monkeypatch, capsys, "sample", pkl, "-n", "4", "--out", tmp_path / "s.png")
    assert code == 0 and (tmp_path / "s.png").is_file(), err
    # eval takes the .pkl as a run: it gets as far as checking the evaluator against the snapshot's RGB 8x8 images
    code, _, err = run_cli(monkeypatch, capsys, "eval", pkl, "--metrics", "fid", "-n", "10", "-q")
    assert code == 2 and "does not fit RGB 8x8 images" in err and "no run" not in err, err


class Runs:
    """An object that a plain unpickler rebuilds by calling `func(*args)`."""

    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def _storage_bytes_with(obj) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer, _use_new_zipfile_serialization=False)
    return buffer.getvalue()


@pytest.mark.parametrize("name, payload, message", [
    ("os.system", lambda m: Runs(os.system, f"touch {m}"), "system"),
    ("builtins.eval", lambda m: Runs(eval, f"open({str(m)!r}, 'w')"), "builtins.eval"),
    ("unknown class", lambda m: Runs(GankitError, "x"), "gankit.errors.GankitError"),
    ("storage", lambda m: Runs(torch.storage._load_from_bytes, _storage_bytes_with(Runs(os.system, f"touch {m}"))),
     "weights_only=False"),
])
def test_a_pickle_that_would_run_code_is_refused_by_name(tmp_path, monkeypatch, capsys, name, payload, message):
    marker = tmp_path / "ran"
    pkl = tmp_path / "evil.pkl"
    pkl.write_bytes(pickle.dumps({"G": payload(marker), "D": None}))
    code, out, err = run_cli(monkeypatch, capsys, "sample", pkl, "--out", tmp_path / "x.png")
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert not marker.exists()
    with pytest.raises(GankitError, match="refused"):
        gankit.load(pkl)


def test_other_architectures_get_one_line_saying_what_was_found(tmp_path, snapshot):
    G, G_ema, D = snapshot[1]
    resnet = write_snapshot(tmp_path / "resnet.pkl", G, G_ema, D, architecture="resnet")
    with pytest.raises(GankitError, match="architecture='resnet'"):
        gankit.load(resnet)
    tf = tmp_path / "tf.pkl"  # what a TensorFlow StyleGAN2 pickle references first
    tf.write_bytes(b"\x80\x02cdnnlib.tflib.network\nNetwork\nq\x00)\x81q\x01.")
    with pytest.raises(GankitError, match="TensorFlow"):
        gankit.load(tf)
    xl = tmp_path / "xl.pkl"
    xl.write_bytes(b"\x80\x02cpg_modules.discriminator\nProjectedDiscriminator\nq\x00)\x81q\x01.")
    with pytest.raises(GankitError, match="StyleGAN-XL"):
        gankit.load(xl)
    not_snapshot = tmp_path / "list.pkl"
    not_snapshot.write_bytes(pickle.dumps([1, 2]))
    with pytest.raises(GankitError, match="not a StyleGAN2-ADA/StyleGAN3 snapshot"):
        gankit.load(not_snapshot)


def test_init_starts_training_bit_exactly_from_the_snapshot(snapshot, tmp_path):
    from gankit.training import Trainer

    pkl, (G, G_ema, D) = snapshot
    src = gankit.load(pkl, which="D")
    cfg = tiny_config("stylegan2", f"init={pkl}", "G.z_dim=8", "G.w_dim=8", "G.channel_base=64", "G.channel_max=8",
                      "G.mapping_layers=2", "D.channel_base=64", "D.channel_max=8", "D.mbstd_group_size=2",
                      "ema.kimg=1", steps=0)
    trainer = Trainer(cfg, data=tiny_images(channels=3))
    for mine, theirs in ((trainer.G, gankit.load(pkl, which="G")), (trainer.G_ema, gankit.load(pkl)), (trainer.D, src)):
        for key, value in theirs.state_dict().items():
            assert torch.equal(mine.state_dict()[key], value), key
    assert trainer.state.step == 0 and not trainer.opt_G.state  # fresh optimizer and clock
    bad = tiny_config("stylegan2", f"init={pkl}", "G.mapping_layers=2", "G.channel_max=16", steps=0)
    with pytest.raises(GankitError, match=r"init=.*does not fit this model: G\.synthesis\.blocks\.0\.const"):
        Trainer(bad, data=tiny_images(channels=3))
    assert math.isfinite(float(trainer.G_ema.mapping.w_avg.sum()))


HAS_ONNX = all(importlib.util.find_spec(m) for m in ("onnx", "onnxscript", "onnxruntime"))


def test_a_snapshot_exports_to_pt2_like_any_generator(snapshot, tmp_path, monkeypatch, capsys):
    pkl, _ = snapshot
    code, _, err = run_cli(monkeypatch, capsys, "export", pkl, "--format", "pt2", "--out", tmp_path / "G.pt2")
    assert code == 0, err
    z, _, _ = _inputs()
    with torch.no_grad():
        assert torch.allclose(torch.export.load(tmp_path / "G.pt2").module()(z), gankit.load(pkl)(z), atol=1e-4, rtol=0)


@pytest.mark.slow
@pytest.mark.skipif(not HAS_ONNX, reason="the export extra (onnx, onnxscript, onnxruntime) is not installed")
def test_a_snapshot_exports_to_onnx_and_matches_in_onnxruntime(snapshot, tmp_path):
    import onnxruntime

    from gankit.export import export_generator

    G = gankit.load(snapshot[0])
    session = onnxruntime.InferenceSession(str(export_generator(G, tmp_path / "G.onnx", "onnx")),
                                           providers=["CPUExecutionProvider"])
    z, _, _ = _inputs()
    (images,) = session.run(["images"], {"z": z.numpy()})
    with torch.no_grad():
        assert torch.allclose(torch.from_numpy(images), G(z), atol=1e-4, rtol=0)
