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
    kimg: float = _help(0.0, "EMA of G: half-life in thousands of images on the run's clock (images shown to D: "
                             "n_critic x batch per step; 0 = no G_ema)")
    rampup: Optional[float] = _help(None, "half-life at most cur_nimg*rampup, the same clock (StyleGAN2); null = off")


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
    data: str = _help("fashion-mnist", "dataset name or path (idx dir, CIFAR dir, image folder, .zip of images); "
                                       "a path is stored absolute")
    skip_bad: bool = _help(False, "image folders/zips: leave unreadable files out (listed in the run's skipped.txt) "
                                  "instead of refusing the data")
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
    except OSError as err:
        raise GankitError(f"cannot read config {path}: {err}") from None
    except yaml.YAMLError as err:
        raise GankitError(f"cannot read config {path}: {yaml_error_text(err)}") from None
    if not isinstance(data, dict):
        raise GankitError(f"config {path} must be a mapping of keys to values")
    return data


def yaml_error_text(err: yaml.YAMLError) -> str:
    """'line 3, column 7: mapping values are not allowed here' (1-based, where the parser stopped)."""
    mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
    problem = getattr(err, "problem", None) or str(err).splitlines()[0]
    if mark is None:
        return problem
    context = getattr(err, "context", None)
    return f"line {mark.line + 1}, column {mark.column + 1}: {problem}" + (f" ({context})" if context else "")


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
    if message.startswith("Cannot convert 'DictConfig'"):
        hint = "; the data options are top-level keys: skip_bad=true, resolution=N, channels=N" if key == "data" else ""
        return GankitError(f"config key {key!r} takes one value, not sub-keys ({key}.X=...){hint}")
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


def _flow(name: str, value: Any) -> str:
    """`name: value` as one line of YAML, non-ASCII text (§, ψ) kept as is."""
    return yaml.safe_dump({name: value}, default_flow_style=True, width=1000, allow_unicode=True).strip()[1:-1]


# Help for option names the families share that their source leaves uncommented.
COMMON_OPTION_HELP = {
    "c_dim": "label classes (set from the data when conditional=true; 0 = unconditional)",
    "img_resolution": "image size (set from the data)", "img_channels": "image channels (set from the data)",
    "data_dim": "dimension of vector (toy) data (set from the data)", "z_dim": "latent size",
    "w_dim": "intermediate latent (w) size", "mapping_layers": "layers of the mapping network z -> w",
    "w_avg_beta": "decay of the running mean of w (truncation's centre)",
    "channel_base": "channels at resolution r: min(channel_base / r, channel_max)",
    "channel_max": "at most this many channels per layer", "max_channels": "at most this many channels per layer",
    "mixing_prob": "probability of style mixing regularization per batch",
    "mbstd_group_size": "minibatch-stddev group size", "mbstd_num_channels": "minibatch-stddev feature maps",
    "widths": "hidden layer widths", "slope": "LeakyReLU negative slope", "dropout": "dropout probability",
    "bn_eps": "BatchNorm epsilon", "c_embed_dim": "label embedding width (0 = c_dim)",
}


def _option_classes() -> dict[str, tuple[list[str], list[tuple[str, Any, str]]]]:
    """Every class of gankit/models/*.py read from source (no import, so no torch): name -> (base names,
    [(field, default, comment)])."""
    import ast

    classes: dict[str, tuple[list[str], list[tuple[str, Any, str]]]] = {}
    for path in sorted((Path(__file__).parent / "models").glob("*.py")):
        source = path.read_text()
        lines = source.splitlines()
        for node in ast.walk(ast.parse(source)):
            if not isinstance(node, ast.ClassDef):
                continue
            fields = []
            for item in node.body:
                if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name) and item.value is not None:
                    default = _constant(ast, item.value, source)
                    line = lines[item.end_lineno - 1]
                    fields.append((item.target.id, default, line.split("  # ", 1)[1].strip() if "  # " in line else ""))
            classes[node.name] = ([b.id for b in node.bases if isinstance(b, ast.Name)], fields)
    return classes


def _constant(ast, node, source: str) -> Any:
    """A field default from source: a literal, arithmetic of numbers (2 ** 2.1), else its source text."""
    if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "field":  # field(default=...) / default_factory
        for keyword in node.keywords:
            if keyword.arg == "default":
                return _constant(ast, keyword.value, source)
            if keyword.arg == "default_factory" and isinstance(keyword.value, ast.Lambda):
                return _constant(ast, keyword.value.body, source)
            if keyword.arg == "default_factory" and getattr(keyword.value, "id", "") in ("list", "dict"):
                return [] if keyword.value.id == "list" else {}
    try:
        return ast.literal_eval(node)
    except ValueError:
        pass
    if all(isinstance(n, (ast.Constant, ast.BinOp, ast.UnaryOp, ast.operator, ast.unaryop)) for n in ast.walk(node)):
        return eval(compile(ast.Expression(node), "<option>", "eval"), {"__builtins__": {}})  # numbers only
    return ast.get_source_segment(source, node)


def _family_classes(model: str) -> tuple[str, str] | None:
    """The names of a built-in family's G and D option classes, from its `ModelFamily(...)` registration."""
    import ast

    path = Path(__file__).parent / "models" / f"{model}.py"
    if not path.is_file():
        return None
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "ModelFamily":
            found = {k.arg: getattr(k.value, "id", None) for k in node.keywords}
            if found.get("G_options") and found.get("D_options"):
                return found["G_options"], found["D_options"]
    return None


def family_option_rows(cfg: TrainConfig) -> dict[str, list[tuple[str, Any, str]]]:
    """{'G': [(option, value, help), ...], 'D': [...]} of a built-in family (defaults, then this config's
    values), read from the family's source; {} for a family registered at run time."""
    names = _family_classes(cfg.model)
    if names is None:
        return {}
    classes = _option_classes()

    def mro(name: str) -> list[str]:  # Python's C3 linearization, on class names
        seqs = [mro(base) for base in classes.get(name, ([], []))[0]] + [list(classes.get(name, ([], []))[0])]
        result = [name]
        while any(seqs):
            head = next((seq[0] for seq in seqs if seq and not any(seq[0] in other[1:] for other in seqs)), None)
            if head is None:
                break
            result.append(head)
            seqs = [seq[1:] if seq and seq[0] == head else seq for seq in seqs]
        return result

    def fields(name: str) -> dict[str, tuple[Any, str]]:  # dataclass order: the bases' fields first (reverse MRO)
        out: dict[str, tuple[Any, str]] = {}
        for klass in reversed(mro(name)):
            for option, default, text in classes.get(klass, ([], []))[1]:
                out[option] = (default, text or out.get(option, (None, ""))[1])
        return out

    rows = {}
    for prefix, name in zip(("G", "D"), names):
        values = dict(getattr(cfg, prefix))
        known = fields(name)
        where = f"see gankit/models/{cfg.model}.py"
        rows[prefix] = [(option, values.get(option, default), text or COMMON_OPTION_HELP.get(option, where))
                        for option, (default, text) in known.items()]
        rows[prefix] += [(option, value, "not an option of this family") for option, value in values.items()
                         if option not in known]
    return rows


def config_help(cfg: TrainConfig, groups: dict[str, list[tuple[str, Any, str]]] | None = None) -> str:
    """The resolved config as YAML with one line of help per key (for `gankit info --config`); G and D list
    the family's options one per line with their help (`groups` gives such rows; default: read from source)."""
    groups = family_option_rows(cfg) if groups is None else groups
    lines: list[str] = []

    def walk(obj: Any, indent: int) -> None:
        for f in dataclasses.fields(obj):
            value = getattr(obj, f.name)
            note = f.metadata.get("help", "")
            pad = "  " * indent
            if dataclasses.is_dataclass(value):
                lines.append(f"{pad}{f.name}:  # {note}")
                walk(value, indent + 1)
            elif indent == 0 and groups and f.name in groups:
                lines.append(f"{pad}{f.name}:  # {note}")
                for name, option, text in groups[f.name]:
                    lines.append(f"{pad}  {_flow(name, option)}  # {text}")
            else:
                lines.append(f"{pad}{_flow(f.name, value)}  # {note}")

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
