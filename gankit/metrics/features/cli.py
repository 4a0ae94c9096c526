"""`gankit evaluator ...`: train the offline evaluator CNN on a labelled dataset (torch imported lazily)."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import typer

from gankit.errors import GankitError

evaluator_app = typer.Typer(no_args_is_help=True, help="Offline evaluator networks for FID/KID/IS/label accuracy.")


@evaluator_app.command("train")
def train(
    data: str = typer.Option(..., "--data", help="labelled dataset: a name (fashion-mnist, mnist, ...) or a path"),
    out: Path = typer.Option(..., "--out", "-o", help="safetensors file to write"),
    epochs: int = typer.Option(4, "--epochs", help="passes over the training split"),
    seed: int = typer.Option(0, "--seed", help="seed for weights, data order and augmentation"),
    split: str = typer.Option("train", "--split", help="split to train on"),
    batch_size: int = typer.Option(128, "--batch-size", help="images per step"),
    flip: bool = typer.Option(False, "--flip/--no-flip", help="random left-right flips (clothes yes, digits no)"),
    shift: int = typer.Option(0, "--shift", help="random translation of up to this many pixels (0: none)"),
    threads: Optional[int] = typer.Option(None, "--threads", help="CPU threads (same count, same weights bit for bit)"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress bar"),
) -> None:
    """Train the fmnist-cnn evaluator on DATA deterministically; print its test accuracy when a test split exists."""
    from gankit.metrics.features.train_classifier import accuracy, load_labelled, save_classifier, train_classifier
    from gankit.runs.outputs import check_out_file

    if threads is not None and threads < 1:
        raise GankitError("--threads must be at least 1")
    check_out_file(out)  # before the data is loaded
    dataset = load_labelled(data, split)
    typer.echo(f"training fmnist-cnn on {data} ({split}: {len(dataset)} images, {dataset.num_classes} classes)")
    start = time.perf_counter()
    model = train_classifier(dataset, epochs=epochs, seed=seed, batch_size=batch_size, hflip=flip, shift=shift,
                             threads=threads, progress=not quiet, dataset_name=str(data), split=split)
    seconds = time.perf_counter() - start
    extra = {}
    test = None
    if split != "test":
        try:
            test = load_labelled(data, "test")
        except GankitError:
            test = None  # no test split (image folder, digits): nothing to measure on
    if test is not None:
        test_accuracy = accuracy(model, test)
        extra["test_accuracy"] = f"{test_accuracy:.4f}"
        typer.echo(f"test accuracy: {100 * test_accuracy:.2f}% on {len(test)} images")
    else:
        typer.echo(f"{data} has no test split; accuracy not measured")
    sha256 = save_classifier(model, out, extra)
    typer.echo(f"trained in {seconds:.0f} s; wrote {out} (sha256 {sha256})")
    typer.echo(f"use it with: gankit eval RUN --extractor fmnist-cnn --weights {out}")
