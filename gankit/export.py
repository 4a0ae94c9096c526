"""`gankit export RUN --format onnx|pt2 --out FILE`: the generator as a file other runtimes load.

The exported graph is the run's sampling network (G_ema when the run has one, else G) in eval
mode: inputs `z` float32 [N, z_dim] (and `c`, a float32 one-hot [N, c_dim], for conditional
models), output `images` float32 [N, C, H, W] (or [N, D] for vector data), with N dynamic.
`onnx` goes through torch's dynamo ONNX exporter (needs the `export` extra: onnx, onnxscript;
onnxruntime to run it); `pt2` is `torch.export`'s program, loaded with `torch.export.load`.
"""
from __future__ import annotations

import contextlib
import copy
import io
import logging
import warnings
from collections.abc import Iterator
from pathlib import Path

import torch
import typer
from torch import nn

from gankit.errors import GankitError

FORMATS = ("onnx", "pt2")


class UnconditionalG(nn.Module):
    """G with one tensor input: z [N, z_dim] -> G(z)."""

    def __init__(self, G: nn.Module) -> None:
        super().__init__()
        self.G = G

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.G(z)


class ConditionalG(UnconditionalG):
    """G with two tensor inputs: z [N, z_dim], one-hot c [N, c_dim] -> G(z, c)."""

    def forward(self, z: torch.Tensor, c: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return self.G(z, c)


def example_inputs(G: nn.Module, n: int = 2) -> tuple[torch.Tensor, ...]:
    """(z,) or (z, c) for tracing: z [n, z_dim], c one-hot [n, c_dim]."""
    gen = torch.Generator().manual_seed(0)
    z = torch.randn(n, G.z_dim, generator=gen)
    if not G.c_dim:
        return (z,)
    c = nn.functional.one_hot(torch.arange(n) % G.c_dim, G.c_dim).float()
    return z, c


QUIET_LOGGERS = ("torch.onnx", "torch.export", "torch._export", "torch._dynamo", "onnxscript", "onnx_ir")


@contextlib.contextmanager
def quiet_exporters() -> Iterator[None]:
    """Silence what the exporters print of their own (torch.onnx's log lines, Python warnings, progress
    prints): errors still raise, and gankit's one line is the command's output."""
    loggers = [logging.getLogger(name) for name in QUIET_LOGGERS]
    levels = [logger.level for logger in loggers]
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        for logger in loggers:
            logger.setLevel(logging.ERROR)
        try:
            yield
        finally:
            for logger, level in zip(loggers, levels, strict=True):
                logger.setLevel(level)


def export_generator(G: nn.Module, out: str | Path, fmt: str) -> Path:
    """Write G (a copy, eval mode, on CPU) as ONNX or a torch.export .pt2 file with a dynamic batch size."""
    if fmt not in FORMATS:
        raise GankitError(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    G = copy.deepcopy(G).cpu().eval()
    for part in G.modules():  # values the forward pass reads as Python numbers (ProGAN's lod) become constants
        if hasattr(part, "freeze_for_export"):
            part.freeze_for_export()
    module = (ConditionalG if G.c_dim else UnconditionalG)(G).eval()
    inputs = example_inputs(G)
    batch = torch.export.Dim("batch", min=1, max=65536)
    dynamic = tuple({0: batch} for _ in inputs)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "pt2":
        with torch.no_grad(), quiet_exporters():
            program = torch.export.export(module, inputs, dynamic_shapes=dynamic)
        torch.export.save(program, out)
        return out
    try:
        import onnx  # noqa: F401
        import onnxscript  # noqa: F401
    except ImportError:
        raise GankitError("--format onnx needs the export extra: pip install 'gankit[export]'") from None
    names = ["z", "c"][:len(inputs)]
    with torch.no_grad(), quiet_exporters():
        torch.onnx.export(module, inputs, str(out), input_names=names, output_names=["images"],
                          dynamic_shapes=dynamic, dynamo=True, external_data=False, verbose=False)
    return out


def export_command(
    run: Path = typer.Argument(..., help="run folder or checkpoint folder"),
    fmt: str = typer.Option("onnx", "--format", "-f", help="onnx | pt2 (torch.export)"),
    out: Path = typer.Option(..., "--out", "-o", help="file to write (e.g. G.onnx or G.pt2)"),
) -> None:
    """Export the generator (EMA weights when the run has them) with z (and c) inputs to ONNX or .pt2."""
    from gankit.runs.load import load

    G = load(run)
    path = export_generator(G, out, fmt)
    inputs = "z [N, %d]" % G.z_dim + (", c [N, %d] one-hot" % G.c_dim if G.c_dim else "")
    typer.echo(f"wrote {path} ({fmt}; inputs {inputs}; output images)")
