"""`gankit lab ...`: one command per lab, and `all`. A lab is a module with
`run(out: Path, protocol: str, progress: bool) -> LabSection` (and optionally `THREADS`, the torch
threads it runs with); `add_lab` registers it and its command.

    gankit lab divergences|vanishing-gradients|mode-collapse|convergence|stacked-modes|equivariance|all --out DIR [--quick] [--protocol paper]
"""

import importlib
from pathlib import Path

import torch
import typer

from gankit.errors import GankitError

lab_app = typer.Typer(add_completion=False, no_args_is_help=True,
                      help="The seed's theory as experiments: each writes DIR/report.md, report.html and results.json.")

LABS: dict[str, str] = {}  # command name -> module with run(out, protocol, progress)
PROTOCOLS = ("default", "paper")

OUT = typer.Option(..., "--out", help="folder for report.md, report.html, results.json and figures")
QUICK = typer.Option(False, "--quick", help="a few steps and one seed: checks that the lab runs (tests use it)")
PROTOCOL = typer.Option("default", "--protocol", help="default (scaled down, <= 10 min per lab on 2 cores) | paper")
QUIET = typer.Option(False, "--quiet", help="no progress bars")


def resolve_protocol(quick: bool, protocol: str) -> str:
    """--quick wins; else default | paper."""
    if protocol not in PROTOCOLS:
        raise GankitError(f"--protocol must be one of {', '.join(PROTOCOLS)}, got {protocol!r}")
    return "quick" if quick else protocol


def run_labs(names: list[str], out: Path, protocol: str, progress: bool = True) -> Path:
    """Run the named labs into `out` and write the report files; returns report.md's path."""
    from gankit.lab.report import write_report
    from gankit.runs.outputs import check_out_dir

    check_out_dir(out)
    out.mkdir(parents=True, exist_ok=True)
    sections = []
    for name in names:
        module = importlib.import_module(LABS[name])
        if progress:
            typer.echo(f"lab {name} ({protocol}) ...", err=True)
        threads = torch.get_num_threads()
        torch.set_num_threads(getattr(module, "THREADS", threads))  # tiny toy models: intra-op threads only add syncs
        try:
            sections.append(module.run(out, protocol, progress))
        finally:
            torch.set_num_threads(threads)
    paths = write_report(out, sections, protocol)
    typer.echo(f"wrote {paths['md']}, {paths['html']} and {paths['json']}")
    return paths["md"]


def add_lab(name: str, module: str, help_text: str) -> None:
    """Register a lab module and its `gankit lab NAME` command."""
    LABS[name] = module

    def command(out: Path = OUT, quick: bool = QUICK, protocol: str = PROTOCOL, quiet: bool = QUIET) -> None:
        run_labs([name], out, resolve_protocol(quick, protocol), not quiet)

    command.__doc__ = help_text
    lab_app.command(name)(command)


add_lab("divergences", "gankit.lab.divergences",
        "The optimal D and the game's value (= 2 JS - log 4), JS against W1 and their gradients, G's gradient through a trained D.")
add_lab("vanishing-gradients", "gankit.lab.vanishing",
        "Arjovsky & Bottou 2017: DCGAN checkpoints on Fashion-MNIST, a fresh D per checkpoint, G's gradient norms.")
add_lab("mode-collapse", "gankit.lab.mode_collapse",
        "PacGAN's Table 1 on the ring and grid (every recipe, seeds as one ensemble) and the seed's 1-D bimodal.")
add_lab("convergence", "gankit.lab.convergence",
        "The Dirac-GAN (Mescheder 2018): vector fields, eigenvalues and trajectories of NS, WGAN and RpGAN with R1/R2.")
add_lab("stacked-modes", "gankit.lab.stacked_modes",
        "R3GAN's 1,000-mode test on Stacked Fashion-MNIST: NS + R1, RpGAN + R1 and RpGAN + R1 + R2 on dcgan's network.")
add_lab("equivariance", "gankit.lab.equivariance",
        "StyleGAN2 (Fourier input) vs StyleGAN3-T/R under moving input: texture-sticking GIF and EQ-T, EQ-T_frac, EQ-R.")


@lab_app.command("all")
def run_all(out: Path = OUT, quick: bool = QUICK, protocol: str = PROTOCOL, quiet: bool = QUIET) -> None:
    """Every lab, one report."""
    run_labs(list(LABS), out, resolve_protocol(quick, protocol), not quiet)
