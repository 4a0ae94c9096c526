"""Parity with NVIDIA's own code: their networks, random weights, pickled as their training loop does.

Runs only when NVLABS_STYLEGAN3_SRC names a checkout of github.com/NVlabs/stylegan3 (their code runs
in a subprocess from that folder, on the CPU, where their custom ops fall back to reference code;
it needs scipy, and their dnnlib needs `requests` and `click` on its path: set NVLABS_PYTHONPATH).
NVLABS_STYLEGAN2_ADA_SRC (optional) adds a case from github.com/NVlabs/stylegan2-ada-pytorch.
gankit reads each snapshot with its restricted unpickler; G_ema, G and D must give NVIDIA's outputs
to ≤ 1e-5 relative (max |ours − theirs| / max |theirs|) in fp32. `python -m tests.runs.test_nvidia_parity`
prints the table that BENCHMARKS.md records.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import gankit

SRC = os.environ.get("NVLABS_STYLEGAN3_SRC")
ADA_SRC = os.environ.get("NVLABS_STYLEGAN2_ADA_SRC")  # optional: github.com/NVlabs/stylegan2-ada-pytorch
TOL = 1e-5

# The reference side: builds NVIDIA's networks through their public constructors and pickles them.
REFERENCE = r'''
import copy, json, pickle, sys
import torch
import dnnlib

case, out = json.loads(sys.argv[1]), sys.argv[2]
torch.manual_seed(case["seed"])
common = dict(c_dim=case["c_dim"], img_resolution=case["res"], img_channels=case["channels"])
widths = dict(channel_base=case["base"], channel_max=case["max"], num_fp16_res=case["fp16"], conv_clamp=case["clamp"])
if case["family"] == "ada-stylegan2":  # stylegan2-ada-pytorch: training/networks.py, nested synthesis_kwargs
    from training import networks as n2
    G = n2.Generator(z_dim=16, w_dim=16, mapping_kwargs=dnnlib.EasyDict(num_layers=2),
                     synthesis_kwargs=dnnlib.EasyDict(widths), **common)
elif case["family"] == "stylegan2":
    from training import networks_stylegan2 as n2
    G = n2.Generator(z_dim=16, w_dim=16, mapping_kwargs=dnnlib.EasyDict(num_layers=2), **widths, **common)
else:
    from training import networks_stylegan2 as n2, networks_stylegan3 as n3
    radial = case["family"] == "stylegan3-r"
    G = n3.Generator(z_dim=16, w_dim=16, mapping_kwargs=dnnlib.EasyDict(num_layers=2), num_layers=4,
                     num_critical=2, margin_size=4, magnitude_ema_beta=0.5 ** (32 / 20000), conv_kernel=1 if radial else 3,
                     use_radial_filters=radial, **dict(widths, channel_base=case["base"] * (2 if radial else 1),
                     channel_max=case["max"] * (2 if radial else 1)), **common)
D = n2.Discriminator(epilogue_kwargs=dnnlib.EasyDict(mbstd_group_size=2), block_kwargs=dnnlib.EasyDict(freeze_layers=0),
                     **widths, **common)

def jitter(net, scale):  # every parameter and buffer away from its initial value
    with torch.no_grad():
        for name, p in list(net.named_parameters()) + list(net.named_buffers()):
            if name.endswith(("resample_filter", "up_filter", "down_filter", "transform", "freqs", "phases")):
                continue
            if name.endswith("magnitude_ema"):
                p.copy_(torch.rand([]) + 0.5)
            else:
                p.add_(torch.randn_like(p) * scale * (p.abs().mean() + 1))

jitter(G, 0.2)
jitter(D, 0.2)
G_ema = copy.deepcopy(G)
jitter(G_ema, 0.05)
snapshot = dict(training_set_kwargs=dict(path="/data/x.zip", resolution=case["res"], use_labels=bool(case["c_dim"])))
for name, module in [("G", G), ("D", D), ("G_ema", G_ema), ("augment_pipe", None)]:
    if module is not None:
        module = copy.deepcopy(module).eval().requires_grad_(False).cpu()
    snapshot[name] = module
with open(f"{out}/snapshot.pkl", "wb") as f:
    pickle.dump(snapshot, f)

n = 4
z = torch.randn([n, 16])
c = torch.nn.functional.one_hot(torch.arange(n) % max(case["c_dim"], 1), max(case["c_dim"], 1)).float()
c = c if case["c_dim"] else None
x = torch.randn([n, case["channels"], case["res"], case["res"]])
ref = dict(z=z, c=c, x=x)
with torch.no_grad():
    for name, net in [("G", G), ("G_ema", G_ema)]:
        net.eval()
        for psi, cutoff in [(1.0, None), (0.6, None), (0.6, 2)]:
            ws = net.mapping(z, c, truncation_psi=psi, truncation_cutoff=cutoff)
            ref[f"{name}/ws/{psi}/{cutoff}"] = ws
            ref[f"{name}/img/{psi}/{cutoff}"] = net.synthesis(ws, noise_mode="const", force_fp32=True)
    D.eval()
    ref["D"] = D(x, c, force_fp32=True)
torch.save(ref, f"{out}/ref.pt")
'''

CASES = {
    "sg2-uncond-grey": dict(family="stylegan2", c_dim=0, channels=1, res=16, base=256, max=32, clamp=None, fp16=0),
    "sg2-cond-rgb": dict(family="stylegan2", c_dim=3, channels=3, res=16, base=256, max=32, clamp=256, fp16=0),
    "sg2-clamp-fp16": dict(family="stylegan2", c_dim=0, channels=3, res=32, base=512, max=32, clamp=0.5, fp16=2),
    "sg3-t": dict(family="stylegan3-t", c_dim=0, channels=3, res=16, base=256, max=32, clamp=256, fp16=2),
    "sg3-r-cond-grey": dict(family="stylegan3-r", c_dim=2, channels=1, res=16, base=256, max=32, clamp=256, fp16=0),
    "ada-sg2-cond-clamp-fp16": dict(family="ada-stylegan2", c_dim=3, channels=3, res=32, base=512, max=32, clamp=0.5,
                                    fp16=2),
}


def _rel(ours: torch.Tensor, theirs: torch.Tensor) -> tuple[float, float]:
    err = (ours - theirs).abs().max().item()
    return err, err / max(theirs.abs().max().item(), 1e-30)


def compare(name: str, workdir: Path) -> dict[str, tuple[float, float]]:
    """Build the case with NVIDIA's code in a subprocess, read its snapshot with gankit, compare every output."""
    case = dict(CASES[name], seed=sorted(CASES).index(name))
    workdir.mkdir(parents=True, exist_ok=True)
    script = workdir / "reference.py"
    script.write_text(REFERENCE)
    src = ADA_SRC if case["family"] == "ada-stylegan2" else SRC
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [src, os.environ.get("NVLABS_PYTHONPATH")])))
    subprocess.run([sys.executable, str(script), json.dumps(case), str(workdir)], cwd=src, env=env, check=True,
                   capture_output=True, timeout=600)
    ref = torch.load(workdir / "ref.pt", weights_only=True)
    pkl = workdir / "snapshot.pkl"
    z, c, x = ref["z"], ref["c"], ref["x"]
    errors: dict[str, tuple[float, float]] = {}
    with torch.no_grad():
        for which in ("G", "G_ema"):
            G = gankit.load(pkl, which=which)
            for psi, cutoff in [(1.0, None), (0.6, None), (0.6, 2)]:
                ws = G.mapping(z, c, psi=psi, cutoff=cutoff)
                theirs = ref[f"{which}/img/{psi}/{cutoff}"]
                errors[f"{which} ws ψ={psi} cutoff={cutoff}"] = _rel(ws, ref[f"{which}/ws/{psi}/{cutoff}"])
                errors[f"{which} synthesis ψ={psi} cutoff={cutoff}"] = _rel(G.synthesis(ws, noise_mode="const"), theirs)
                errors[f"{which} G(z) ψ={psi} cutoff={cutoff}"] = _rel(G(z, c, psi=psi, cutoff=cutoff), theirs.clamp(-1, 1))
        errors["D"] = _rel(gankit.load(pkl, which="D")(x, c), ref["D"].flatten())
    return errors


pytestmark = [pytest.mark.slow, pytest.mark.skipif(not SRC, reason="set NVLABS_STYLEGAN3_SRC to a stylegan3 checkout")]


@pytest.mark.parametrize("name", sorted(CASES))
def test_gankit_matches_nvidia(name, tmp_path):
    if CASES[name]["family"] == "ada-stylegan2" and not ADA_SRC:
        pytest.skip("set NVLABS_STYLEGAN2_ADA_SRC to a stylegan2-ada-pytorch checkout")
    errors = compare(name, tmp_path / name)
    worst = max(errors.items(), key=lambda kv: kv[1][1])
    assert worst[1][1] <= TOL, f"{name}: {worst[0]} differs by {worst[1][1]:.2e} relative"


def test_an_imported_stylegan3_r_matches_in_onnxruntime(tmp_path):
    onnxruntime = pytest.importorskip("onnxruntime")
    from gankit.export import export_generator

    compare("sg3-r-cond-grey", tmp_path / "case")
    G = gankit.load(tmp_path / "case" / "snapshot.pkl")
    session = onnxruntime.InferenceSession(str(export_generator(G, tmp_path / "G.onnx", "onnx")),
                                           providers=["CPUExecutionProvider"])
    ref = torch.load(tmp_path / "case" / "ref.pt", weights_only=True)
    (images,) = session.run(["images"], {"z": ref["z"].numpy(), "c": ref["c"].numpy()})
    theirs = ref["G_ema/img/1.0/None"].clamp(-1, 1)
    assert (torch.from_numpy(images) - theirs).abs().max().item() <= 1e-4


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        for case_name in sorted(CASES):
            if CASES[case_name]["family"] == "ada-stylegan2" and not ADA_SRC:
                continue
            errs = compare(case_name, Path(tmp) / case_name)
            for net in ("G_ema", "G", "D"):
                picked = [v for k, v in errs.items() if k.startswith(net + " ") or k == net]
                if picked:
                    print(f"| {case_name} | {net} | {max(a for a, _ in picked):.2e} | {max(r for _, r in picked):.2e} |")
