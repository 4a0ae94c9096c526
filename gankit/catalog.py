"""The built-in model families, losses and datasets by name, without importing them (no torch).

The registries (`gankit.registry`) fill up as the families are imported; this table names the
built-in ones so that `gankit.config` (a floor below the families) can check `model=` and `loss=`
and `gankit info` can list them, both without starting torch. A name registered at run time (a
user's own family) counts too. tests/test_catalog.py checks the table against the registries:
a new family, loss or dataset adds its line here.
"""
from __future__ import annotations

from gankit.errors import GankitError
from gankit.registry import DATASETS, LOSSES, MODELS, Registry

MODEL_SUMMARIES = {
    "dcgan": "DCGAN: transposed-conv G, strided-conv D (batch/layer/no norm, spectral norm, projection)",
    "ensemble": "E toy mlp G/D pairs trained at once (stacked weights, batched matmuls; many seeds per run)",
    "mlp": "fully connected G/D of the seed (GAN, WGAN, cGAN) and toy recipes",
    "progan": "Progressive GAN: growing G/D with fade-in, equalized lr, pixel norm, minibatch stddev (WGAN-GP + drift)",
    "r3gan": "R3GAN (2024): residual grouped-conv ConvNet, no normalisation or StyleGAN tricks; use loss=rpgan + R1 + R2",
    "stylegan": "StyleGAN (2019): mapping net, const input, noise, AdaIN styles, blur, mixing, truncation",
    "stylegan2": "StyleGAN2 (2020): modulated convs, skip G, residual D, path length + lazy R1; input const|fourier",
    "stylegan3": "StyleGAN3 (2021) alias-free G, G.config t|r: Fourier input, filtered lrelu, equivariance metrics",
}
LOSS_SUMMARIES = {
    "bce": "the seed's BCELoss: D loss (real + fake) / 2, G vs ones",
    "hinge": "SNGAN/BigGAN hinge loss",
    "lsgan": "least squares (Mao et al. 2017), targets 1/0",
    "minimax": "Goodfellow 2014 minimax: G minimises E log(1 - D(G(z)))",
    "nonsaturating": "logistic D, G minimises -E log D(G(z))",
    "rpgan": "relativistic pairing (R3GAN): D minimises softplus(D(G(z)) - D(x)) per pair; use with R1 + R2",
    "wasserstein": "WGAN critic: D maximises E D(x) - E D(G(z))",
}
DATASET_NAMES = ("bimodal", "cifar10", "digits", "fashion-mnist", "grid", "kmnist", "mnist", "ring", "stacked-fmnist")

_TABLES: dict[str, tuple[Registry, tuple[str, ...]]] = {
    "model": (MODELS, tuple(MODEL_SUMMARIES)),
    "loss": (LOSSES, tuple(LOSS_SUMMARIES)),
    "dataset": (DATASETS, DATASET_NAMES),
}


def names(kind: str) -> list[str]:
    """Valid names of a kind ("model", "loss", "dataset"): the built-in ones and any registered since."""
    registry, builtin = _TABLES[kind]
    return sorted(set(builtin) | set(registry.names()))


def check(kind: str, name: str) -> None:
    """A GankitError listing the valid names when `name` is no known `kind`."""
    valid = names(kind)
    if name not in valid:
        raise GankitError(f"unknown {kind} {name!r}; valid: {', '.join(valid)}")
