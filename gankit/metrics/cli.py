"""`gankit eval`: measure a run, a checkpoint or a folder of images against a dataset."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from gankit.errors import GankitError


def is_run(path: Path) -> bool:
    """True for a run folder (has checkpoints/) or a checkpoint folder (has manifest.json)."""
    return (path / "manifest.json").is_file() or (path / "checkpoints").is_dir()


def default_metrics(kind: str, conditional: bool) -> str:
    """What `gankit eval` measures when --metrics is not given (`conditional`: the extractor classifies the
    samples' classes, so label accuracy applies)."""
    if kind == "vector":
        return "modes"
    return "fid,kid,is,pr,dc" + (",acc" if conditional else "")


SHIPPED_SIZES = (28, 32)  # Fashion-MNIST's 28x28, and 32x32 (padded) as the presets train it


def fmnist_misfit(extractor, source, shipped: bool) -> str:
    """What makes the fmnist-cnn evaluator unfit for these samples ('' when it fits): channels, and for the
    shipped Fashion-MNIST weights also the image size and the class count."""
    problems = []
    if source.channels != extractor.in_channels:
        problems.append("RGB" if source.channels == 3 else "grey")
    if shipped and source.resolution not in SHIPPED_SIZES:
        problems.append(f"{source.resolution}x{source.resolution}")
    if shipped and source.num_classes and source.num_classes != extractor.num_classes:
        problems.append(f"{source.num_classes}-class")
    return " ".join(problems)


def check_evaluator(ctx, data: str) -> None:
    """Refuse, in one line, to score images with an fmnist-cnn evaluator made for other data."""
    if ctx.source.kind != "image" or ctx.extractor_name != "fmnist-cnn":
        return
    if ctx.metrics and not any(metric.reference for metric in ctx.metrics):
        return  # e.g. equivariance metrics: no features involved
    extractor = ctx.extractor
    misfit = fmnist_misfit(extractor, ctx.source, shipped=ctx.weights is None)
    if misfit:
        made_for = (f"{extractor.metadata.get('dataset', '?')}: {'grey' if extractor.in_channels == 1 else 'RGB'}"
                    + (", 28x28" if ctx.weights is None else "") + f", {extractor.num_classes} classes")
        raise GankitError(
            f"the fmnist-cnn evaluator ({made_for}) does not fit {misfit} images; train one on this data "
            f"(gankit evaluator train --data {data} --out evaluator.safetensors, then --weights evaluator.safetensors) "
            "or use --extractor effnet-lite0")


def eval_command(
    run: Path = typer.Argument(..., help="run folder, checkpoint folder, or a folder of png/jpg images (needs --data)"),
    metrics: Optional[str] = typer.Option(None, "--metrics", "-m", help="comma-separated: fid,kid,is,pr,dc,acc,modes,ppl "
                                          "(default: fid,kid,is,pr,dc (+acc if conditional) for images, modes for toy runs)"),
    n: Optional[int] = typer.Option(None, "-n", help="samples to generate (default 10,000 for images, 2,500 for modes)"),
    extractor: str = typer.Option("fmnist-cnn", "--extractor", help="feature extractor for image metrics"),
    weights: Optional[Path] = typer.Option(None, "--weights", help="extractor weights file (default: the shipped ones)"),
    data: Optional[str] = typer.Option(None, "--data", help="reference dataset name or path (default: the run's data)"),
    split: Optional[str] = typer.Option(None, "--split", help="reference split (default: test when the dataset has one)"),
    json_out: Optional[Path] = typer.Option(None, "--json", help="also write the full report (values, floors, protocol) here"),
    seed: Optional[int] = typer.Option(None, "--seed", help="evaluation seed (default: the run's seed; 0 for a folder)"),
    batch_size: int = typer.Option(250, "--batch-size", help="images per batch (latents depend on it)"),
    device: str = typer.Option("auto", "--device", help="auto | cpu | cuda | cuda:N"),
    no_cache: bool = typer.Option(False, "--no-cache", help="recompute reference statistics instead of reading the cache"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress bars"),
) -> None:
    """Evaluate a generator (or an image folder): each metric beside the real-vs-real floor."""
    from gankit.metrics.evaluate import EvalContext, FolderSource, GeneratorSource, evaluate, format_report, parse_metrics
    from gankit.nn.device import pick_device
    from gankit.runs.load import load

    if n is not None and n < 2:
        raise GankitError("-n must be at least 2")
    if batch_size < 1:
        raise GankitError("--batch-size must be at least 1")
    torch_device = pick_device(device)
    if is_run(run):
        G = load(run, device=str(torch_device))
        source = GeneratorSource(G, f"run {run}")
        data = data or G.config.data
        seed = G.config.seed if seed is None else seed
    elif run.is_dir():
        if data is None:
            raise GankitError(f"{run} is a folder of images: say which dataset to compare it with, e.g. --data fashion-mnist")
        source = FolderSource(run)
        seed = 0 if seed is None else seed
    else:
        raise GankitError(f"no run, checkpoint or image folder at {run}")
    ctx = EvalContext(source, data, parse_metrics(metrics) if metrics else [], split=split, extractor_name=extractor,
                      weights=None if weights is None else str(weights), seed=seed, batch_size=batch_size,
                      device=torch_device, progress=not quiet, use_cache=not no_cache)
    check_evaluator(ctx, data)
    if not metrics:
        classifies = source.kind == "image" and source.num_classes > 0 and ctx.extractor.num_classes == source.num_classes
        ctx.metrics = parse_metrics(default_metrics(source.kind, classifies))
    report = evaluate(ctx, n)
    typer.echo(format_report(report))
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(report, indent=2) + "\n")
        typer.echo(f"wrote {json_out}")
