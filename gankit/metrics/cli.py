"""`gankit eval`: measure a run, a checkpoint or a folder of images against a dataset."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from gankit.errors import GankitError


def is_run(path: Path) -> bool:
    """True for a run folder (has checkpoints/), a checkpoint folder (has manifest.json) or an NVIDIA snapshot (.pkl)."""
    return (path / "manifest.json").is_file() or (path / "checkpoints").is_dir() or path.suffix.lower() in (".pkl", ".pickle")


def default_metrics(kind: str, conditional: bool) -> str:
    """What `gankit eval` measures when --metrics is not given (`conditional`: the extractor classifies the
    samples' classes, so label accuracy applies)."""
    if kind == "vector":
        return "modes"
    return "fid,kid,is,pr,dc" + (",acc" if conditional else "")


def eval_command(
    run: Path = typer.Argument(..., help="run folder, checkpoint folder, or a folder of png/jpg images (needs --data)"),
    metrics: Optional[str] = typer.Option(None, "--metrics", "-m", help="comma-separated: fid,kid,is,pr,dc,acc,modes,ppl "
                                          "(default: fid,kid,is,pr,dc (+acc if conditional) for images, modes for toy runs)"),
    n: Optional[int] = typer.Option(None, "-n", help="samples to generate (default 10,000 for images, 2,500 for modes)"),
    extractor: str = typer.Option("fmnist-cnn", "--extractor", help="feature extractor for image metrics"),
    weights: Optional[Path] = typer.Option(None, "--weights", help="extractor weights file (default: the shipped ones)"),
    lpips_weights: Optional[Path] = typer.Option(None, "--lpips-weights", help="torchvision's VGG16 file vgg16-397923af.pth: "
                                                 "the ppl metrics measure with LPIPS-VGG16 (sha256-checked)"),
    lpips_lin: Optional[Path] = typer.Option(None, "--lpips-lin", help="LPIPS v0.1 calibration file vgg.pth "
                                             "(default: the lpips package's; make lpips)"),
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
    from gankit.metrics.evaluate import (EvalContext, FolderSource, GeneratorSource, check_evaluator, evaluate, format_report,
                                         parse_metrics)
    from gankit.nn.device import pick_device
    from gankit.runs import records
    from gankit.runs.load import load
    from gankit.runs.outputs import check_out_file

    if n is not None and n < 2:
        raise GankitError("-n must be at least 2")
    if json_out is not None:
        check_out_file(json_out, (".json",), "--json")  # before minutes of sampling, not after
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
                      weights=None if weights is None else str(weights),
                      lpips_weights=None if lpips_weights is None else str(lpips_weights),
                      lpips_lin=None if lpips_lin is None else str(lpips_lin), seed=seed, batch_size=batch_size,
                      device=torch_device, progress=not quiet, use_cache=not no_cache)
    check_evaluator(ctx, data)
    if not metrics:
        classifies = source.kind == "image" and source.num_classes > 0 and ctx.extractor.num_classes == source.num_classes
        ctx.metrics = parse_metrics(default_metrics(source.kind, classifies))
    if (lpips_weights is not None or lpips_lin is not None) and not any(m.distance for m in ctx.metrics):
        raise GankitError("--lpips-weights and --lpips-lin apply to the ppl metrics only; add e.g. --metrics ppl")
    report = evaluate(ctx, n)
    typer.echo(format_report(report))
    for note in dict.fromkeys(r["protocol"].get("distance_note") for r in report["results"].values()):
        if note:
            typer.echo(f"note: {note}")
    modes = report["results"].get("modes", {}).get("values", {})
    if modes.get("reverse_kl", 0.0) == float("inf"):
        typer.echo("note: reverse KL is infinite because no sample lies within 3 standard deviations of a mode "
                   "(the generator is untrained, collapsed or diverged); in --json it is null")
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(records.dumps(report, indent=2) + "\n")
        typer.echo(f"wrote {json_out}")
