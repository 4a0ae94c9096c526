"""Typed training configuration: dataclasses, YAML presets, `key=value` overrides, clear errors.

A config is resolved in three layers: the dataclass defaults below, a preset or YAML file
(which may name a `base:` preset it extends), then command-line `key=value` overrides (dotted
for nested keys: `optim.G.lr=1e-4`, `G.widths=[64,128]`). Model options (`G.*`, `D.*`) are
validated against the chosen model family's own config dataclass when the model is built.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

import yaml
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from gankit import catalog
from gankit.errors import GankitError

PRESET_DIR = Path(__file__).parent / "configs"


def _help(default: Any, text: str) -> Any:
    """A dataclass field with a default and one line of help for `gankit info --config`."""
    if isinstance(default, (list, dict)) or dataclasses.is_dataclass(default):
        return field(default_factory=lambda: _copy(default), metadata={"help": text})
    return field(default=default, metadata={"help": text})


def _copy(value: Any) -> Any:
    return dataclasses.replace(value) if dataclasses.is_dataclass(value) else type(value)(value)


@dataclass
class OptimConfig:
    name: str = _help("adam", "optimizer: adam | rmsprop | sgd")
    lr: float = _help(2e-4, "learning rate")
    betas: List[float] = _help([0.5, 0.999], "Adam betas (beta1, beta2)")
    eps: float = _help(1e-8, "Adam/RMSprop epsilon")
    weight_decay: float = _help(0.0, "L2 weight decay")
    fused: bool = _help(True, "use torch's fused Adam kernel (same maths, several times faster)")


@dataclass
class OptimGroup:
    G: OptimConfig = _help(OptimConfig(), "generator optimizer")
    D: OptimConfig = _help(OptimConfig(), "discriminator optimizer")
    lr_decay: float = _help(1.0, "final lr factor of a cosine decay of both lrs over the run's steps/kimg (1 = constant)")


@dataclass
class PenaltyConfig:
    weight: float = _help(0.0, "penalty weight (0 = off)")
    interval: int = _help(1, "apply every N steps of its network (lazy regularization when > 1)")


@dataclass
class R1Config:
    gamma: float = _help(0.0, "R1 gamma: (gamma/2)*E|grad D(x)|^2 on reals (0 = off)")
    interval: int = _help(1, "apply every N D steps (lazy regularization when > 1)")


@dataclass
class R2Config:
    gamma: float = _help(0.0, "R2 gamma: (gamma/2)*E|grad D(G(z))|^2 on detached fakes (R3GAN; 0 = off)")
    interval: int = _help(1, "apply every N D steps (lazy regularization when > 1)")


@dataclass
class PathLengthConfig:
    weight: float = _help(0.0, "path-length penalty weight (StyleGAN2: 2; 0 = off)")
    interval: int = _help(4, "apply every N G steps (lazy regularization, with lr/beta compensation)")
    batch_shrink: int = _help(2, "the penalty's batch is batch_size / batch_shrink")
    decay: float = _help(0.01, "EMA rate of the mean path length a")


@dataclass
class ClipConfig:
    value: float = _help(0.0, "clip every D weight to [-value, value] after each D step (0 = off)")


@dataclass
class RegConfig:
    gp: PenaltyConfig = _help(PenaltyConfig(), "gradient penalty (WGAN-GP), lambda=weight")
    r1: R1Config = _help(R1Config(), "R1 penalty on real images")
    r2: R2Config = _help(R2Config(), "R2 penalty on generated images (R3GAN: with R1 and loss=rpgan)")
    drift: PenaltyConfig = _help(PenaltyConfig(), "drift penalty weight*E[D(x)^2] (ProGAN)")
    clip: ClipConfig = _help(ClipConfig(), "weight clipping (seed WGAN)")
    pl: PathLengthConfig = _help(PathLengthConfig(), "path-length regularization of G (StyleGAN2)")


@dataclass
class CosineScheduleConfig:
    kimg: float = _help(0.0, "length of the cosine schedules below in kimg, then constant at their end values (R3GAN; 0 = off)")
    lr_end: float = _help(1.0, "both lrs at the end as a factor of optim.*.lr (R3GAN: 2e-4 -> 5e-5, i.e. 0.25)")
    beta2_end: Optional[float] = _help(None, "Adam beta2 of both optimizers at the end (R3GAN: 0.9 -> 0.99); null = constant")
    gamma_end: float = _help(1.0, "R1 and R2 gammas at the end as a factor of reg.r1/r2.gamma (R3GAN: 0.1)")
    ema_rampup: bool = _help(False, "the EMA half-life rises along the cosine from 0 to ema.kimg (R3GAN)")


@dataclass
class EmaConfig:
    kimg: float = _help(0.0, "EMA of G: half-life in thousands of images (0 = no G_ema)")
    rampup: Optional[float] = _help(None, "half-life at most cur_nimg*rampup (StyleGAN2); null = off")


@dataclass
class AugmentConfig:
    xflip: bool = _help(False, "random left-right flips of real images")
    diffaugment: str = _help("", "DiffAugment policy on D's input, reals and fakes alike: '' or e.g. color,translation,cutout")
    blur_sigma: float = _help(0.0, "StyleGAN3-R: blur D's input (reals and fakes) by sigma pixels, fading to 0 (0 = off)")
    blur_fade_kimg: float = _help(200.0, "the D blur's sigma falls linearly to 0 over this many kimg")


@dataclass
class LogConfig:
    every: int = _help(100, "write a log.jsonl line every N generator steps")
    sample_kimg: float = _help(10.0, "sample grid from a fixed z every N kimg (0 = only at the end)")
    sample_n: int = _help(64, "images in each sample grid")
    progress: bool = _help(True, "progress bar on a terminal")
    tensorboard: bool = _help(False, "also write TensorBoard events (needs the tensorboard extra)")


@dataclass
class CheckpointConfig:
    kimg: float = _help(50.0, "write a checkpoint every N kimg (and always at the end)")
    keep: int = _help(3, "how many checkpoints to keep")


@dataclass
class SpeedConfig:
    precision: str = _help("fp32", "fp32 | bf16 (autocast, CPU and GPU) | fp16 (autocast + gradient scaler, GPU only)")
    compile: bool = _help(False, "torch.compile G and D for training (the first steps compile; needs a C++ compiler on CPU)")
    channels_last: bool = _help(False, "channels-last memory format for conv models (faster convolutions on GPUs)")
    data_on_device: bool = _help(True, "keep an image dataset on the GPU when it fits in a quarter of its free memory")


@dataclass
class EvalConfig:
    kimg: float = _help(0.0, "evaluate every N kimg and at the end into metrics.jsonl + metrics.png (0 = off)")
    metrics: List[str] = _help(["fid", "kid"], "metrics (gankit eval --help): fid kid is pr dc acc for images, modes for toy data")
    n: Optional[int] = _help(None, "samples per evaluation; null = the protocol's (10,000 images, 2,500 toy points)")
    extractor: str = _help("fmnist-cnn", "feature extractor for image metrics")
    weights: Optional[str] = _help(None, "extractor weights file; null = the shipped ones")
    split: Optional[str] = _help(None, "reference split; null = test when the dataset has one, else train")
    batch_size: int = _help(250, "images per evaluation batch")


@dataclass
class GrowthConfig:
    start_resolution: int = _help(0, "progressive growing from this resolution (ProGAN: 4); 0 = off")
    stage_kimg: float = _help(600.0, "kimg to train each resolution before the next fades in (ProGAN code: 600, paper: 800)")
    fade_kimg: float = _help(600.0, "kimg of each fade-in of a new resolution")
    batch_sizes: Dict[int, int] = _help({}, "global batch size per resolution, e.g. {4: 128, 32: 64}; others use batch_size")


@dataclass
class TrainConfig:
    description: str = _help("", "what this preset is, and where it departs from its paper")
    model: str = _help("dcgan", "model family (gankit info lists them)")
    data: str = _help("fashion-mnist", "dataset name or path (idx dir, CIFAR dir, image folder)")
    resolution: Optional[int] = _help(None, "image size; null = the dataset's own")
    channels: Optional[int] = _help(None, "image channels (1 or 3); null = the dataset's own")
    conditional: bool = _help(False, "condition G and D on the dataset's labels (sets c_dim)")
    batch_size: int = _help(64, "global batch size (summed over ranks)")
    steps: Optional[int] = _help(None, "stop after N generator steps")
    kimg: Optional[float] = _help(None, "stop after N thousand real images shown to D")
    seconds: Optional[float] = _help(None, "also stop after N seconds of training (benchmarks, demos)")
    seed: int = _help(0, "seed for weights, data order, latents, noise and evaluation")
    loss: str = _help("nonsaturating", "adversarial loss (gankit info lists them)")
    n_critic: int = _help(1, "D steps per G step")
    phase_order: str = _help("d_first", "d_first | g_first: which network steps first")
    d_reuse_real: bool = _help(False, "all n_critic D steps of a step share one real batch (seed WGAN)")
    reuse_fakes: bool = _help(False, "one batch of fakes per step: g_first -> D trains on the G step's images "
                                     "(the seed's loop); d_first -> G re-scores the D step's images (DCGAN example)")
    device: str = _help("auto", "auto | cpu | cuda | cuda:N")
    batch_gpu: Optional[int] = _help(None, "per-process micro-batch: each process accumulates batch_size / processes "
                                           "in rounds of batch_gpu (null = no accumulation)")
    sync_bn: bool = _help(False, "BatchNorm statistics over all processes (GPUs only; default: per process)")
    speed: SpeedConfig = _help(SpeedConfig(), "precision, compilation and memory layout")
    G: Dict[str, Any] = _help({}, "generator options (see the model family)")
    D: Dict[str, Any] = _help({}, "discriminator options (see the model family)")
    optim: OptimGroup = _help(OptimGroup(), "optimizers")
    reg: RegConfig = _help(RegConfig(), "regularizers")
    schedule: CosineScheduleConfig = _help(CosineScheduleConfig(), "R3GAN's cosine schedules of lr, Adam beta2, R1/R2 gamma and EMA")
    ema: EmaConfig = _help(EmaConfig(), "exponential moving average of G")
    augment: AugmentConfig = _help(AugmentConfig(), "data augmentation")
    log: LogConfig = _help(LogConfig(), "logging and sample grids")
    checkpoint: CheckpointConfig = _help(CheckpointConfig(), "checkpoints")
    growth: GrowthConfig = _help(GrowthConfig(), "progressive growing of G and D (ProGAN); run by GrowthHook")
    eval: EvalConfig = _help(EvalConfig(), "periodic evaluation during training (its own RNG: never changes training)")


def preset_names() -> list[str]:
    """Names of the YAML presets shipped in gankit/configs."""
    return sorted(p.stem for p in PRESET_DIR.glob("*.yaml"))


def _read_yaml(path: Path) -> dict:
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as err:
        raise GankitError(f"cannot read config {path}: {str(err).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise GankitError(f"config {path} must be a mapping of keys to values")
    return data


def _layers(spec: str | Path, seen: tuple = ()) -> list[dict]:
    """The YAML layers of a preset or file, base first (`base: NAME` extends another preset)."""
    path = Path(spec)
    if str(spec) in preset_names():
        path = PRESET_DIR / f"{spec}.yaml"
    elif not (path.suffix in (".yaml", ".yml") and path.is_file()):
        if str(spec) in catalog.names("model"):
            return [{"model": str(spec)}]
        raise GankitError(
            f"unknown preset or config {str(spec)!r}; presets: {', '.join(preset_names())}; "
            f"models: {', '.join(catalog.names('model'))}; or give a path to a .yaml file"
        )
    data = _read_yaml(path)
    base = data.pop("base", None)
    if base is None:
        return [data]
    if base in seen:
        raise GankitError(f"config {path} has a circular base: {base}")
    return _layers(base, seen + (base,)) + [data]


def _explain(err: OmegaConfBaseException) -> GankitError:
    """Turn an OmegaConf error into one line naming the key and what was expected."""
    key = getattr(err, "full_key", None) or ""
    message = str(err).splitlines()[0]
    if "not in" in message or "Key '" in message and "not" in message:
        parent = key.rsplit(".", 1)[0] if "." in key else ""
        return GankitError(f"unknown config key {key!r}; valid: {', '.join(valid_keys(parent))}")
    return GankitError(f"config key {key!r}: {message}")


def valid_keys(prefix: str = "") -> list[str]:
    """The keys one level below `prefix` in the schema ('' = top level)."""
    node: Any = TrainConfig
    for part in [p for p in prefix.split(".") if p]:
        fields_ = {f.name: f for f in dataclasses.fields(node)} if dataclasses.is_dataclass(node) else {}
        if part not in fields_:
            return []
        node = fields_[part].default_factory() if fields_[part].default_factory is not dataclasses.MISSING else None
    return [f.name for f in dataclasses.fields(node)] if dataclasses.is_dataclass(node) else []


def parse_overrides(overrides: list[str]) -> DictConfig:
    """`['a.b=1', 'c=x']` -> a DictConfig; a malformed item is a one-line error."""
    for item in overrides:
        if "=" not in item or item.startswith("="):
            raise GankitError(f"override {item!r} must look like key=value (dotted keys for groups: optim.G.lr=1e-4)")
    try:
        return OmegaConf.from_dotlist(list(overrides))
    except OmegaConfBaseException as err:
        raise GankitError(f"cannot parse overrides: {str(err).splitlines()[0]}") from None


def load_config(spec: str | Path | dict | TrainConfig = "dcgan", overrides: list[str] | None = None) -> TrainConfig:
    """Resolve a preset name, model name, YAML path or dict plus `key=value` overrides into a TrainConfig."""
    if isinstance(spec, TrainConfig):
        layers = [OmegaConf.structured(spec)]
    elif isinstance(spec, dict):
        layers = [dict(spec)]
    else:
        layers = _layers(spec)
    try:
        merged = OmegaConf.structured(TrainConfig)
        for layer in layers:
            merged = OmegaConf.merge(merged, layer)
        if overrides:
            merged = OmegaConf.merge(merged, parse_overrides(overrides))
        cfg: TrainConfig = OmegaConf.to_object(merged)  # type: ignore[assignment]
    except OmegaConfBaseException as err:
        raise _explain(err) from None
    validate(cfg)
    return cfg


def validate(cfg: TrainConfig) -> None:
    """Check values that types alone cannot; raise one GankitError naming the key."""
    catalog.check("model", cfg.model)
    catalog.check("loss", cfg.loss)
    checks = [
        (cfg.batch_size > 0, "batch_size", "a positive integer"),
        (cfg.n_critic >= 1, "n_critic", "an integer >= 1"),
        (cfg.phase_order in ("d_first", "g_first"), "phase_order", "d_first or g_first"),
        (cfg.steps is None or cfg.steps >= 0, "steps", "an integer >= 0"),
        (cfg.kimg is None or cfg.kimg >= 0, "kimg", "a number >= 0"),
        (cfg.seconds is None or cfg.seconds > 0, "seconds", "a positive number"),
        (cfg.resolution is None or cfg.resolution > 0, "resolution", "a positive integer"),
        (cfg.channels in (None, 1, 3), "channels", "1 or 3"),
        (cfg.ema.kimg >= 0, "ema.kimg", "a number >= 0"),
        (cfg.log.every >= 1, "log.every", "an integer >= 1"),
        (cfg.log.sample_n >= 1, "log.sample_n", "an integer >= 1"),
        (cfg.checkpoint.keep >= 1, "checkpoint.keep", "an integer >= 1"),
        (cfg.checkpoint.kimg >= 0, "checkpoint.kimg", "a number >= 0"),
        (cfg.eval.kimg >= 0, "eval.kimg", "a number >= 0"),
        (cfg.eval.n is None or cfg.eval.n >= 2, "eval.n", "an integer >= 2 or null"),
        (cfg.eval.batch_size >= 1, "eval.batch_size", "an integer >= 1"),
        (not cfg.reuse_fakes or cfg.n_critic == 1, "reuse_fakes", "used with n_critic=1"),
        (cfg.growth.stage_kimg >= 0 and cfg.growth.fade_kimg >= 0, "growth.stage_kimg/fade_kimg", "numbers >= 0"),
        (all(b > 0 for b in cfg.growth.batch_sizes.values()), "growth.batch_sizes", "positive batch sizes"),
        (cfg.batch_gpu is None or cfg.batch_gpu >= 1, "batch_gpu", "a positive integer or null"),
        (cfg.speed.precision in ("fp32", "bf16", "fp16"), "speed.precision", "fp32, bf16 or fp16"),
    ]
    for name in ("G", "D"):
        opt: OptimConfig = getattr(cfg.optim, name)
        checks += [
            (opt.name in ("adam", "rmsprop", "sgd"), f"optim.{name}.name", "adam, rmsprop or sgd"),
            (opt.lr > 0, f"optim.{name}.lr", "a positive number"),
            (len(opt.betas) == 2 and all(0 <= b < 1 for b in opt.betas), f"optim.{name}.betas", "two numbers in [0, 1)"),
        ]
    checks.append((0 < cfg.optim.lr_decay <= 1, "optim.lr_decay", "a number in (0, 1]"))
    checks += [(cfg.reg.pl.batch_shrink >= 1, "reg.pl.batch_shrink", "an integer >= 1"),
               (0 <= cfg.reg.pl.decay <= 1, "reg.pl.decay", "a number in [0, 1]")]
    checks += [(cfg.schedule.kimg >= 0, "schedule.kimg", "a number >= 0"),
               (cfg.schedule.lr_end > 0, "schedule.lr_end", "a positive number"),
               (cfg.schedule.beta2_end is None or 0 <= cfg.schedule.beta2_end < 1, "schedule.beta2_end", "null or a number in [0, 1)"),
               (cfg.schedule.gamma_end >= 0, "schedule.gamma_end", "a number >= 0"),
               (cfg.schedule.kimg == 0 or cfg.optim.lr_decay == 1, "optim.lr_decay",
                "1 when schedule.kimg is set (both schedule the lr; use one)")]
    for reg in ("gp", "r1", "r2", "drift", "pl"):
        checks.append((getattr(cfg.reg, reg).interval >= 1, f"reg.{reg}.interval", "an integer >= 1"))
    for ok, key, expected in checks:
        if not ok:
            raise GankitError(f"config key {key!r} must be {expected}")


def to_yaml(cfg: TrainConfig) -> str:
    """The resolved config as YAML (what every run writes as config.yaml)."""
    return OmegaConf.to_yaml(OmegaConf.structured(cfg))


def config_help(cfg: TrainConfig) -> str:
    """The resolved config as YAML with one line of help per key (for `gankit info --config`)."""
    lines: list[str] = []

    def walk(obj: Any, indent: int) -> None:
        for f in dataclasses.fields(obj):
            value = getattr(obj, f.name)
            note = f.metadata.get("help", "")
            pad = "  " * indent
            if dataclasses.is_dataclass(value):
                lines.append(f"{pad}{f.name}:  # {note}")
                walk(value, indent + 1)
            else:
                rendered = yaml.safe_dump({f.name: value}, default_flow_style=True, width=1000).strip()[1:-1]
                lines.append(f"{pad}{rendered}  # {note}")

    walk(cfg, 0)
    return "\n".join(lines)


def build_options(cls: type, values: dict, prefix: str) -> Any:
    """Validate a model option group (`G.*` or `D.*`) against its family's dataclass."""
    try:
        return OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(cls), values))
    except OmegaConfBaseException as err:
        key = getattr(err, "full_key", "") or ""
        message = str(err).splitlines()[0]
        if "not in" in message:
            valid = ", ".join(f.name for f in dataclasses.fields(cls))
            return _raise(f"unknown option {prefix}.{key} for this model; valid: {valid}")
        return _raise(f"config key '{prefix}.{key}': {message}")


def _raise(message: str) -> Any:
    raise GankitError(message) from None
