"""The `gankit` command line: train, sample, info (typer). User errors print one line, exit 2."""
from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import Any, Callable, List, Optional

import click
import typer
from typer.core import TyperGroup

from gankit.errors import GankitError

# ---- commands defined beside their subsystem: listed here with their help, imported only when run ----
# (so `gankit --help`, `gankit info` and a usage error start no torch; tests/test_cli_startup.py checks
# each line of help against its command's docstring)
def _out_checked(command: Callable, suffixes: tuple[str, ...] = ()) -> Callable:
    """`command` with its --out file checked first (a folder, an unwritable place or a wrong suffix: one line)."""
    @functools.wraps(command)
    def checked(**kwargs):
        from gankit.runs.outputs import check_out_file

        check_out_file(kwargs["out"], suffixes)
        return command(**kwargs)

    return checked


def _mix() -> Callable:
    from gankit.tools import mix_command

    return _out_checked(mix_command, (".png", ".jpg", ".jpeg"))


def _interpolate() -> Callable:
    from gankit.tools import interpolate_command

    return _out_checked(interpolate_command, (".gif",))


def _project() -> Callable:
    from gankit.projection import project_command

    return project_command


def _eval() -> Callable:
    from gankit.metrics.cli import eval_command

    return eval_command


def _export() -> Callable:
    from gankit.export import export_command

    return _out_checked(export_command)


def _playground() -> Callable:
    from gankit.playground.cli import playground

    return playground


def _evaluator() -> typer.Typer:
    from gankit.metrics.features.cli import evaluator_app

    return evaluator_app


def _lab() -> typer.Typer:
    from gankit.lab.cli import lab_app

    return lab_app


LAZY_COMMANDS: dict[str, tuple[Callable[[], Any], str]] = {
    "mix": (_mix, "Style-mixing grid: A rows, B columns, B's styles replacing A's at the chosen level."),
    "interpolate": (_interpolate, "A latent walk as a looping GIF (slerp in z, lerp in w)."),
    "project": (_project, "Project real images into a generator's latent space (StyleGAN2-ADA's projector; z for other generators)."),
    "eval": (_eval, "Evaluate a generator (or an image folder): each metric beside the real-vs-real floor."),
    "export": (_export, "Export the generator (EMA weights when the run has them) with z (and c) inputs to ONNX or .pt2."),
    "playground": (_playground, "Watch a toy GAN learn in the browser: live samples, D's view, gradients, losses and modes."),
    "evaluator": (_evaluator, "Offline evaluator networks for FID/KID/IS/label accuracy."),
    "lab": (_lab, "The seed's theory as experiments: each writes DIR/report.md, report.html and results.json."),
}


class LazyCommand(click.Command):
    """A command listed with its help whose module is imported only when it runs (or shows its own help)."""

    def __init__(self, name: str, help_text: str, load: Callable[[], Any]) -> None:
        super().__init__(name, help=help_text)
        self.load = load

    def command(self) -> click.Command:
        """The real click command: a typer sub-app, or a function registered as one command."""
        obj = self.load()
        if isinstance(obj, typer.Typer):
            return typer.main.get_group(obj)
        single = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
        single.command(self.name)(obj)
        return typer.main.get_command(single)

    def make_context(self, info_name: Optional[str], args: list[str], parent: Optional[click.Context] = None,
                     **extra: Any) -> click.Context:
        return self.command().make_context(info_name, args, parent=parent, **extra)


class _Commands(TyperGroup):
    """gankit's top-level group: the @app.command functions below (train, sample, info), then LAZY_COMMANDS."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        for name, (load, help_text) in LAZY_COMMANDS.items():
            self.add_command(LazyCommand(name, help_text, load))


app = typer.Typer(cls=_Commands, add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="gankit: train, sample and inspect GANs from Goodfellow 2014 to StyleGAN3.")


def _print_version(value: bool) -> None:
    if value:
        from gankit.version import __version__

        typer.echo(f"gankit {__version__}")
        raise typer.Exit()


@app.callback()
def _options(version: bool = typer.Option(False, "--version", is_eager=True, callback=_print_version,
                                          help="print gankit's version and exit")) -> None:
    """gankit: train, sample and inspect GANs from Goodfellow 2014 to StyleGAN3."""


@app.command()
def train(
    config: Optional[str] = typer.Argument(None, help="preset name, model name or YAML file"),
    overrides: Optional[List[str]] = typer.Argument(None, help="key=value overrides, dotted for groups"),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="run folder (default runs/<preset>-<time>)"),
    resume: Optional[Path] = typer.Option(None, "--resume", help="continue this run folder from its newest good checkpoint"),
) -> None:
    """Train a GAN: `gankit train dcgan steps=2000 --out runs/dcgan`."""
    from gankit.config import load_config

    # a bad preset or override fails here, before torch starts
    cfg = load_config(config, list(overrides or [])) if resume is None and config is not None else None
    from gankit.training import Trainer
    from gankit.runs.checkpoint import list_checkpoints
    from gankit.runs.lock import RunLock
    from gankit.runs.outputs import check_new_run_dir, default_run_dir
    from gankit.training.distributed import describe_processes, init_from_env, shutdown
    from gankit.training.speed import speed_notes

    env = init_from_env()  # torchrun: join the process group; one process: nothing
    say = typer.echo if env.rank == 0 else (lambda _: None)
    overrides = list(overrides or [])
    if resume is not None:
        if config is not None:
            if "=" not in config:
                raise GankitError("with --resume give only key=value overrides (the run's own config is used)")
            overrides.insert(0, config)
        if not resume.is_dir():
            raise GankitError(f"no run at {resume} to resume")
        run_dir = resume
    else:
        if config is None or cfg is None:
            raise GankitError("name a preset or config to train (gankit info lists the presets)")
        run_dir = out or default_run_dir(config)
        check_new_run_dir(run_dir)  # before any data is loaded
    with RunLock(run_dir if env.rank == 0 else None):  # one writer per run folder; a second process is refused
        if resume is not None:
            trainer = Trainer.resume(resume, overrides)
            say(f"resuming {resume} at step {trainer.state.step} ({trainer.state.cur_nimg / 1000:.1f} kimg)")
        else:
            if list_checkpoints(run_dir):
                raise GankitError(f"{run_dir} already holds a run; continue it with --resume {run_dir} or choose another --out")
            trainer = Trainer(cfg, run_dir)
            where = f" on {describe_processes(env.world, cfg.batch_size)}" if env.world > 1 else ""
            say(f"training {config} into {run_dir}{where}")
        for note in speed_notes(trainer.cfg.speed.precision, trainer.cfg.speed.compile, trainer.device):
            say(f"note: {note}")
        trainer.train()
    shutdown()
    say(f"done: {trainer.state.step} steps, {trainer.state.cur_nimg / 1000:.1f} kimg -> {trainer.run_dir}")


@app.command()
def sample(
    run: Path = typer.Argument(..., help="run folder, checkpoint folder or NVIDIA snapshot (.pkl)"),
    n: int = typer.Option(64, "-n", help="number of samples"),
    out: Path = typer.Option(Path("samples.png"), "--out", "-o", help="image file to write (.png, .jpg)"),
    class_: Optional[str] = typer.Option(None, "--class", help="class of a conditional generator: an index or a name (e.g. sneaker)"),
    seed: int = typer.Option(0, "--seed", help="latent seed (same seed, same samples)"),
    npy: bool = typer.Option(False, "--npy", help="also write the raw samples as .npy"),
    nrow: Optional[int] = typer.Option(None, "--nrow", help="images per grid row"),
    truncation: Optional[float] = typer.Option(None, "--truncation", help="truncation psi (style-based generators)"),
    truncation_sweep: Optional[str] = typer.Option(None, "--truncation-sweep",
                                                   help="e.g. 1,0.7,0.5,0.3: one row per psi, -n (at most 16) per row"),
) -> None:
    """Draw samples from a trained generator into a PNG grid (or a scatter plot for vector data)."""
    import numpy as np

    from gankit.runs.load import load
    from gankit.runs.outputs import IMAGE_SUFFIXES, check_out_file
    from gankit.viz import save_image_grid, save_scatter

    if n < 1:
        raise GankitError("-n must be at least 1")
    check_out_file(out, IMAGE_SUFFIXES)
    if truncation_sweep is not None:
        from gankit.tools import truncation_sweep_command

        return truncation_sweep_command(run, truncation_sweep, min(n, 16), out, seed)
    G = load(run)
    if class_ is not None:
        from gankit.runs.classes import class_index

        if not G.c_dim:
            raise GankitError("--class needs a conditional generator; this one has no labels")
        class_ = class_index(run, class_, G.c_dim)
    if truncation is not None:
        from gankit.tools import truncated_samples

        images = truncated_samples(G, n, truncation, seed, class_)
    else:
        images = G.sample(n, c=class_, seed=seed)
    if G.is_vector:
        from gankit.data import load_dataset

        try:
            toy = load_dataset(G.config.data)  # its modes are drawn beside the samples
        except GankitError:
            toy = None  # the run's mixture file has moved: the samples alone
        title = f"{n} samples of {G.config.model}" + (f" on {toy.name}" if toy is not None else "")
        save_scatter(images, out, title=title, modes=None if toy is None else toy.means)
    else:
        save_image_grid(images, out, nrow=nrow, scale=max(1, 64 // images.shape[-1]))
    if npy:
        np.save(out.with_suffix(".npy"), images.numpy())
    typer.echo(f"wrote {out}" + (f" and {out.with_suffix('.npy')}" if npy else ""))


@app.command()
def info(
    config: Optional[str] = typer.Option(None, "--config", help="print this preset's resolved config with help"),
    overrides: Optional[List[str]] = typer.Argument(None, help="key=value overrides for --config"),
) -> None:
    """List models, losses, datasets and presets, or explain one preset's config."""
    from gankit import catalog
    from gankit.config import config_help, load_config, preset_names

    if config is not None:
        typer.echo(config_help(load_config(config, list(overrides or []))))
        return
    typer.echo("models:")
    for name, summary in sorted(catalog.MODEL_SUMMARIES.items()):
        typer.echo(f"  {name:14s} {summary}")
    typer.echo("losses:")
    for name, summary in sorted(catalog.LOSS_SUMMARIES.items()):
        typer.echo(f"  {name:14s} {summary}")
    typer.echo("datasets: " + ", ".join(catalog.DATASET_NAMES) + " (or a path: idx folder, CIFAR-10 folder, image folder, .zip of images)")
    typer.echo("presets:  " + ", ".join(preset_names()))
    typer.echo("see one:  gankit info --config PRESET")


@app.command("import")
def import_(
    snapshot: Path = typer.Argument(..., help="NVIDIA StyleGAN2-ADA / StyleGAN3 snapshot (.pkl)"),
    out: Path = typer.Option(..., "--out", "-o", help="run folder to write"),
) -> None:
    """Convert an NVIDIA snapshot into a gankit run folder, executing nothing from the pickle."""
    from gankit.runs.nvidia_import import import_snapshot

    checkpoint, notes = import_snapshot(snapshot, out)
    for note in notes:
        typer.echo(f"note: {note}")
    typer.echo(f"wrote {checkpoint} (gankit sample {out}; fine-tune: gankit train {out / 'config.yaml'} init={out} data=...)")


def main() -> None:
    """Console entry point: user errors become one line on stderr and exit code 2."""
    try:
        app()
    except GankitError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
