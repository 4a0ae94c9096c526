"""NVIDIA snapshot records -> gankit's own StyleGAN2 / StyleGAN3 networks (options and state dicts).

The architecture is read from each record's attributes and init kwargs (never from its source);
gankit's network is built from those options and loaded strictly with the snapshot's tensors,
renamed. Conventions converted (GUIDE §13):
- StyleGAN2's up-sampling conv (`conv0` of every block above 4×4) is a true convolution in NVIDIA's
  code (`flip_weight=False`) and a correlation in gankit: its weight is flipped in both spatial axes.
- StyleGAN2's [1,3,3,1] resampling filters are per-layer buffers in the snapshot; gankit rebuilds
  its own (checked to be the same filter) and drops theirs. StyleGAN3's up/down filters are
  persistent buffers in both, so the snapshot's are kept (designed with `scipy.special.j1`, which
  gankit's torch `bessel_j1` matches only to ~5e-7) and each layer's up/down factors, padding and
  sizes are checked against the snapshot's.
- StyleGAN3's magnitude EMAs and `w_avg` are copied; fp16 blocks run in fp32; NVIDIA's D returns
  [N, 1] logits, gankit's [N]; `pl_mean` (kept in NVIDIA's loss, not in G) starts at 0.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import numpy as np
import torch

from gankit.errors import GankitError
from gankit.runs.nvidia import Record

Tensor = torch.Tensor
SG3_SYNTHESIS = dict(channel_base=32768, channel_max=512, num_layers=14, num_critical=2, first_cutoff=2,
                     first_stopband=2 ** 2.1, last_stopband_rel=2 ** 0.3, margin_size=10, output_scale=0.25)
SG3_LAYER = dict(conv_kernel=3, filter_size=6, lrelu_upsampling=2, use_radial_filters=False, conv_clamp=256)


@dataclass
class Network:
    """One converted network: gankit options, renamed tensors and notes on what was dropped."""

    options: dict
    tensors: dict[str, Tensor]
    checks: list[Callable[[Any], None]] = field(default_factory=list)  # run on the built gankit module


@dataclass
class Converted:
    family: str  # stylegan2 | stylegan3
    preset: str  # stylegan2 | stylegan3-t | stylegan3-r
    networks: dict[str, Network]  # G_ema, G, D: those the snapshot has and gankit can build
    D_error: Optional[str]  # why D could not be converted, if it could not
    meta: dict

    @property
    def G(self) -> Network:
        return self.networks.get("G_ema") or self.networks["G"]


def _unsupported(what: str) -> GankitError:
    return GankitError(f"unsupported snapshot: {what}")


def _kwargs(rec: Record, names: tuple[str, ...] = ()) -> dict:
    """Init kwargs, with positional init args named by `names`."""
    kw = dict(zip(names, rec.init_args))
    kw.update(rec.init_kwargs)
    return kw


def _number(value: Any) -> Any:
    return value.item() if isinstance(value, (np.generic, np.ndarray)) and np.size(value) == 1 else value


def _rename(tensors: dict[str, Tensor], rules: list[tuple[str, str]], where: str) -> dict[str, Tensor]:
    """Apply the first matching regex rule to each key ('' as target drops the tensor)."""
    out = {}
    for key, value in tensors.items():
        for pattern, target in rules:
            if re.fullmatch(pattern, key):
                if target:
                    out[re.sub(pattern, target, key)] = value.detach().float().contiguous().clone()
                break
        else:
            raise _unsupported(f"{where} holds a tensor {key} that gankit's network does not have")
    return out


def _mapping(rec: Record, where: str) -> tuple[dict, list[tuple[str, str]]]:
    """Mapping-network options and renaming rules (fc{i} -> layers.{i})."""
    layers = int(rec.attr("num_layers", 0))
    w_dim = int(rec.attr("w_dim"))
    for i in range(layers):
        fc = rec.child(f"fc{i}")
        if fc.attr("activation") != "lrelu" or fc.state["_parameters"]["weight"].shape[0] != w_dim:
            raise _unsupported(f"{where}.fc{i} is not a {w_dim}-wide lrelu layer (layer_features/activation options)")
    if int(rec.attr("c_dim", 0)) and rec.child("embed").state["_parameters"]["weight"].shape[0] != w_dim:
        raise _unsupported(f"{where}.embed is not {w_dim} wide (embed_features option)")
    lr = float(_number(rec.child("fc0").attr("bias_gain", 0.01))) if layers else 0.01
    beta = rec.attr("w_avg_beta")
    options = dict(mapping_layers=layers, mapping_lr=lr, w_avg_beta=float(beta) if beta is not None else 0.998)
    return options, [(r"mapping\.fc(\d+)\.(.*)", r"mapping.layers.\1.\2"), (r"mapping\.(embed\..*|w_avg)", r"mapping.\1")]


def _shape(rec: Record) -> dict:
    return dict(z_dim=int(rec.attr("z_dim")), c_dim=int(rec.attr("c_dim")), w_dim=int(rec.attr("w_dim")),
                img_resolution=int(rec.attr("img_resolution")), img_channels=int(rec.attr("img_channels")))


def _stylegan2_g(rec: Record, where: str) -> Network:
    synth, shape = rec.child("synthesis"), _shape(rec)
    kw = _kwargs(synth)
    resolutions = [2 ** i for i in range(2, int(math.log2(shape["img_resolution"])) + 1)]
    expected_filter = torch.outer(*[torch.tensor([1.0, 3, 3, 1])] * 2) / 64
    clamps = set()
    for res in resolutions:
        block = synth.child(f"b{res}")
        if block.attr("architecture") != "skip":
            raise _unsupported(f"a StyleGAN2 with architecture={block.attr('architecture')!r} in {where}.synthesis "
                               "(gankit's StyleGAN2 G is the default 'skip')")
        for name, layer in block.children.items():
            if name in ("conv0", "conv1"):
                if layer.attr("activation") != "lrelu" or not layer.attr("use_noise", True) or layer.state["_parameters"]["weight"].shape[-1] != 3:
                    raise _unsupported(f"{where}.synthesis.b{res}.{name} is not a 3×3 lrelu layer with noise")
            for key, value in (layer.state.get("_buffers") or {}).items():
                if key == "resample_filter" and not torch.allclose(value.float(), expected_filter):
                    raise _unsupported(f"{where}.synthesis.b{res}.{name} resamples with a filter other than [1,3,3,1]")
            clamps.add(_number(layer.attr("conv_clamp")))
    if len(clamps) > 1:
        raise _unsupported(f"{where} clamps its layers differently ({sorted(map(str, clamps))})")
    mapping, rules = _mapping(rec.child("mapping"), f"{where}.mapping")
    options = dict(shape, **mapping, channel_base=int(kw.get("channel_base", 32768)),
                   channel_max=int(kw.get("channel_max", 512)), conv_clamp=clamps.pop(), input="const")
    index = {res: i for i, res in enumerate(resolutions)}
    rules = rules + [(r".*\.resample_filter", "")] + [
        (rf"synthesis\.b{res}\.(.*)", rf"synthesis.blocks.{i}.\1") for res, i in index.items()]
    tensors = _rename(rec.tensors(), rules, where)
    for i in range(1, len(resolutions)):  # NVIDIA's up-sampling conv is a true convolution: flip to a correlation
        key = f"synthesis.blocks.{i}.conv0.weight"
        tensors[key] = tensors[key].flip([2, 3]).contiguous()
    tensors["pl_mean"] = torch.zeros([])
    return Network(options, tensors)


def _stylegan3_g(rec: Record, where: str) -> tuple[Network, str]:
    synth, shape = rec.child("synthesis"), _shape(rec)
    kw = dict(SG3_SYNTHESIS, **SG3_LAYER)
    kw.update(_kwargs(synth))
    for name in ("num_layers", "num_critical", "margin_size", "output_scale"):
        kw[name] = _number(synth.attr(name, kw[name]))
    names = list(synth.attr("layer_names") or [k for k in synth.children if re.fullmatch(r"L\d+_.*", k)])
    layers = [synth.child(n) for n in names]
    if len(layers) != kw["num_layers"] + 1:
        raise _unsupported(f"{where}.synthesis has {len(layers)} layers for num_layers={kw['num_layers']}")
    kernel = int(layers[0].attr("conv_kernel"))
    radial = bool(kw.get("use_radial_filters"))
    config = {(3, False): "t", (1, True): "r"}.get((kernel, radial))
    if config is None:
        raise _unsupported(f"a StyleGAN3 with conv_kernel={kernel} and use_radial_filters={radial} "
                           "(gankit has config T: 3, False and config R: 1, True)")
    widen = 2 if config == "r" else 1
    base, cmax = int(kw["channel_base"]), int(kw["channel_max"])
    if base % widen or cmax % widen:
        raise _unsupported(f"a StyleGAN3-R with odd channel_base/channel_max ({base}, {cmax})")
    clamp = _number(layers[0].attr("conv_clamp"))
    mapping, rules = _mapping(rec.child("mapping"), f"{where}.mapping")
    options = dict(shape, **mapping, config=config, channel_base=base // widen, channel_max=cmax // widen,
                   num_layers=int(kw["num_layers"]), num_critical=int(kw["num_critical"]),
                   margin_size=int(kw["margin_size"]), first_cutoff=float(kw["first_cutoff"]),
                   first_stopband=float(kw["first_stopband"]), last_stopband_rel=float(kw["last_stopband_rel"]),
                   filter_size=int(kw["filter_size"]), lrelu_upsampling=int(kw["lrelu_upsampling"]),
                   conv_clamp=None if clamp is None else float(clamp), output_scale=float(kw["output_scale"]),
                   resampling="filtered")
    rules = rules + [(r"synthesis\.input\.(.*)", r"synthesis.input.\1")] + [
        (rf"synthesis\.{re.escape(n)}\.(.*)", rf"synthesis.layers.{i}.\1") for i, n in enumerate(names)]
    tensors = _rename(rec.tensors(), rules, where)
    tensors["pl_mean"] = torch.zeros([])

    def check(G: Any) -> None:  # the schedule gankit derived must be the snapshot's, layer by layer
        for i, (name, theirs) in enumerate(zip(names, layers)):
            ours = G.synthesis.layers[i]
            want = (int(theirs.attr("up_factor")), int(theirs.attr("down_factor")), tuple(theirs.attr("padding")),
                    int(np.asarray(theirs.attr("out_size")).flat[0]))
            got = (ours.up, ours.down, tuple(ours.padding), ours.out_size)
            if want != got:
                raise _unsupported(f"{where}.synthesis.{name} has (up, down, padding, size) {want}; gankit derived {got}")

    return Network(options, tensors, [check]), config


def _stylegan2_d(rec: Record, where: str) -> Network:
    kw = _kwargs(rec)
    resolution, channels, c_dim = int(rec.attr("img_resolution")), int(rec.attr("img_channels")), int(rec.attr("c_dim"))
    log2 = int(math.log2(resolution))
    blocks = [rec.child(f"b{2 ** r}") for r in range(log2, 2, -1)]
    epilogue = rec.child("b4")
    for part in blocks + [epilogue]:
        if part.attr("architecture") != "resnet":
            raise _unsupported(f"a StyleGAN2 D with architecture={part.attr('architecture')!r} (gankit's is 'resnet')")
    mbstd = epilogue.children.get("mbstd")
    clamp = _number(blocks[0].child("conv0").attr("conv_clamp")) if blocks else _number(epilogue.child("conv").attr("conv_clamp"))
    options = dict(c_dim=0, img_resolution=resolution, img_channels=channels,
                   channel_base=int(kw.get("channel_base", 32768)), channel_max=int(kw.get("channel_max", 512)),
                   mbstd_group_size=int(mbstd.attr("group_size")) if mbstd else 4,
                   mbstd_num_channels=int(mbstd.attr("num_channels")) if mbstd else 0,
                   conv_clamp=None if clamp is None else float(clamp))
    rules = [(r".*\.resample_filter", ""), (rf"b{resolution}\.fromrgb\.(.*)", r"from_rgb.\1"),
             (r"b4\.(conv|fc)\.(.*)", r"epilogue.\1.\2"), (r"b4\.out\.(.*)", r"epilogue.head.out.\1")]
    rules += [(rf"b{2 ** r}\.(conv0|conv1|skip)\.(.*)", rf"blocks.{log2 - r}.\1.\2") for r in range(log2, 2, -1)]
    extra = {}
    if c_dim:  # labels go through a mapping network to a cmap as wide as the 4×4 features
        mapping = rec.child("mapping")
        width = epilogue.child("fc").state["_parameters"]["weight"].shape[0]
        m_opts, _ = _mapping(mapping, f"{where}.mapping")
        if int(mapping.attr("w_dim")) != width or abs(m_opts["mapping_lr"] - 0.01) > 1e-12:
            raise _unsupported(f"{where}.mapping is not a {width}-wide label mapping with lr multiplier 0.01 "
                               "(cmap_dim/mapping_kwargs options)")
        options.update(c_dim=c_dim, c_mapping_layers=m_opts["mapping_layers"])
        rules += [(r"mapping\.fc(\d+)\.(.*)", r"epilogue.head.mapping.layers.\1.\2"),
                  (r"mapping\.embed\.(.*)", r"epilogue.head.mapping.embed.\1")]
        extra["epilogue.head.mapping.w_avg"] = torch.zeros(width)  # gankit's mapping keeps one; unused here
    return Network(options, dict(_rename(rec.tensors(), rules, where), **extra))


def _family(rec: Record, where: str) -> str:
    """stylegan2 or stylegan3 from the synthesis network's parts, else a line naming what was found."""
    if rec.class_name != "Generator":
        raise _unsupported(f"{where} is a {rec.class_name}, not a StyleGAN2/StyleGAN3 Generator")
    synth = rec.child("synthesis")
    kinds = {c.class_name for c in synth.children.values()}
    if synth.class_name == "SynthesisNetwork" and "SynthesisBlock" in kinds:
        return "stylegan2"
    if synth.class_name == "SynthesisNetwork" and kinds == {"SynthesisInput", "SynthesisLayer"}:
        return "stylegan3"
    raise _unsupported(f"{where}.synthesis is a {synth.class_name} of {', '.join(sorted(kinds))} "
                       "(not StyleGAN2's blocks or StyleGAN3's layers: e.g. StyleGAN-XL)")


def _plain(value: Any) -> Any:
    """JSON-able copy of training_set_kwargs-like metadata."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (np.generic, np.ndarray)):
        return value.tolist()
    return value if isinstance(value, (str, int, float, bool, type(None))) else repr(value)


def convert(snapshot: dict, source: str) -> Converted:
    """gankit options and tensors for the snapshot's G_ema, G and D (D may be unsupported: `D_error`)."""
    nets = {k: snapshot[k] for k in ("G_ema", "G", "D") if isinstance(snapshot.get(k), Record)}
    if "G_ema" not in nets and "G" not in nets:
        raise GankitError(f"{source} has no generator (G or G_ema)")
    ref = nets.get("G_ema") or nets["G"]
    family = _family(ref, "G_ema" if "G_ema" in nets else "G")
    converted: dict[str, Network] = {}
    preset = "stylegan2"
    for name in ("G_ema", "G"):
        if name in nets:
            if _family(nets[name], name) != family:
                raise _unsupported(f"{name} and the other generator are of different families")
            if family == "stylegan2":
                converted[name] = _stylegan2_g(nets[name], name)
            else:
                converted[name], config = _stylegan3_g(nets[name], name)
                preset = f"stylegan3-{config}"
    G = converted.get("G_ema") or converted["G"]
    for name, net in list(converted.items()):
        if net.options != G.options:
            raise _unsupported(f"{name} and G_ema have different architectures")
    D_error = None
    if "D" in nets:
        try:
            converted["D"] = _stylegan2_d(nets["D"], "D")
        except GankitError as err:
            D_error = str(err)
    meta = {"source": source, "networks": sorted(nets), "family": preset,
            "training_set_kwargs": _plain(snapshot.get("training_set_kwargs")),
            "persistence_version": _plain(ref.version)}
    if family == "stylegan3":
        first = ref.child("synthesis").children
        meta["magnitude_ema_beta"] = _plain(next(v for v in first.values() if v.class_name == "SynthesisLayer").attr("magnitude_ema_beta"))
    meta["num_fp16_res"] = _plain(ref.child("synthesis").attr("num_fp16_res"))
    return Converted(family, preset, converted, D_error, meta)
