"""Many seeds of one toy MLP recipe trained at once: stacked weights and batched matmuls.

`model: ensemble` is the `mlp` family's G and D, `members` times over: every Linear becomes one
weight [E, in, out] applied with `torch.baddbmm`, every BatchNorm1d keeps per-member statistics.
The ordinary trainer runs it with `batch_size = E * b` (see `gankit.lab.mode_collapse.ensemble_config`):

- Layout: member k owns rows k*b .. (k+1)*b of every batch G and D see; a D call on the trainer's
  concatenation [reals; fakes] (or any stack of such segments of E*b rows, `D.member_batch` = b)
  gives member k its own rows of every segment. That is the slice rank k of E takes in the
  trainer's distributed draws, so member k sees exactly the z, data and labels that
  `Trainer(single_cfg, rank=k, world=E)` draws (tests/lab/test_ensemble.py).
- Gradients: the losses are means over all E*b samples, 1/E of each member's own mean; a hook
  multiplies every stacked gradient by E, so each member's optimizer step is the single run's.
- Initialisation: members are built one after another from torch's global RNG (seeded by `seed`);
  `member(k)` returns member k as a plain `mlp` network with its weights.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import nn

from gankit.errors import GankitError
from gankit.models.base import Discriminator, Generator, ModelFamily, PackedDiscriminator, copy_shape
from gankit.models.mlp import LatentMixture, Maxout, MLPDiscriminator, MLPDOptions, MLPGenerator, MLPGOptions
from gankit.registry import MODELS


class StackedLinear(nn.Module):
    """E independent Linear layers: x [E, n, in] -> [E, n, out] in one batched matmul."""

    def __init__(self, layers: list[nn.Linear]) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.stack([l.weight.detach().t() for l in layers]))  # [E, in, out]
        self.bias = nn.Parameter(torch.stack([l.bias.detach()[None] for l in layers]))  # [E, 1, out]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.baddbmm(self.bias, x, self.weight)

    def member_state(self, k: int) -> dict[str, torch.Tensor]:
        return {"weight": self.weight[k].t(), "bias": self.bias[k, 0]}


class StackedBatchNorm(nn.Module):
    """E independent BatchNorm1d layers over x [E, n, C]: statistics per member (dim 1)."""

    def __init__(self, layers: list[nn.BatchNorm1d]) -> None:
        super().__init__()
        self.eps, self.momentum = layers[0].eps, layers[0].momentum
        self.weight = nn.Parameter(torch.stack([l.weight.detach()[None] for l in layers]))  # [E, 1, C]
        self.bias = nn.Parameter(torch.stack([l.bias.detach()[None] for l in layers]))
        self.register_buffer("running_mean", torch.stack([l.running_mean[None] for l in layers]))
        self.register_buffer("running_var", torch.stack([l.running_var[None] for l in layers]))
        self.register_buffer("num_batches_tracked", layers[0].num_batches_tracked.clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            mean = x.mean(1, keepdim=True)  # [E, 1, C]
            var = x.var(1, unbiased=False, keepdim=True)
            with torch.no_grad():
                n = x.shape[1]
                self.running_mean.lerp_(mean, self.momentum)
                self.running_var.lerp_(var * n / max(n - 1, 1), self.momentum)
                self.num_batches_tracked += 1
        else:
            mean, var = self.running_mean, self.running_var
        return (x - mean) * torch.rsqrt(var + self.eps) * self.weight + self.bias

    def member_state(self, k: int) -> dict[str, torch.Tensor]:
        return {"weight": self.weight[k, 0], "bias": self.bias[k, 0],
                "running_mean": self.running_mean[k, 0], "running_var": self.running_var[k, 0],
                "num_batches_tracked": self.num_batches_tracked}


class StackedLatentMixture(nn.Module):
    """E independent LatentMixture latents over z [E, n, d]: means and log-stds stacked [E, K, d - 1]."""

    def __init__(self, layers: list[LatentMixture]) -> None:
        super().__init__()
        self.components = layers[0].components
        self.mu = nn.Parameter(torch.stack([l.mu.detach() for l in layers]))  # [E, K, d - 1]
        self.log_sigma = nn.Parameter(torch.stack([l.log_sigma.detach() for l in layers]))

    component = LatentMixture.component
    forward = LatentMixture.forward  # gathers per member when the parameters are stacked

    def member_state(self, k: int) -> dict[str, torch.Tensor]:
        return {"mu": self.mu[k], "log_sigma": self.log_sigma[k]}


_ELEMENTWISE = (nn.LeakyReLU, nn.ReLU, nn.Tanh, nn.Dropout, Maxout)


def stack_sequential(nets: list[nn.Sequential]) -> nn.Sequential:
    """One Sequential computing E member Sequentials at once on [E, n, features]."""
    layers: list[nn.Module] = []
    for parts in zip(*nets):
        first = parts[0]
        if isinstance(first, nn.Linear):
            layers.append(StackedLinear(list(parts)))
        elif isinstance(first, nn.BatchNorm1d):
            layers.append(StackedBatchNorm(list(parts)))
        elif isinstance(first, LatentMixture):
            layers.append(StackedLatentMixture(list(parts)))
        elif isinstance(first, _ELEMENTWISE):
            layers.append(copy.deepcopy(first))
        else:
            raise GankitError(f"model=ensemble cannot stack a {type(first).__name__} layer")
    return nn.Sequential(*layers)


def unstack_into(stacked: nn.Sequential, k: int, net: nn.Sequential) -> None:
    """Copy member k of a stacked Sequential into a plain member Sequential."""
    state = {}
    for i, layer in enumerate(stacked):
        if hasattr(layer, "member_state"):
            state.update({f"{i}.{name}": value for name, value in layer.member_state(k).items()})
    net.load_state_dict(state, strict=False)


def _scale_gradients(module: nn.Module, factor: float) -> None:
    """Multiply every parameter's gradient by `factor` (the losses average over all members)."""
    for p in module.parameters():
        p.register_hook(lambda grad: grad * factor)


@dataclass
class EnsembleGOptions(MLPGOptions):
    members: int = 4  # E networks trained at once


@dataclass
class EnsembleDOptions(MLPDOptions):
    members: int = 4
    member_batch: int = 0  # b: samples per member in a segment (ensemble_config sets batch_size / members); 0: a call is one segment


def _check_members(members: int) -> None:
    if members < 1:
        raise GankitError("model=ensemble needs members >= 1 (G.members and D.members)")


def _stack_embeddings(nets: list[nn.Module]) -> nn.Parameter | None:
    """The members' label tables stacked [E, c_dim, embed] (None when unconditional)."""
    return nn.Parameter(torch.stack([n.embed.weight.detach() for n in nets])) if nets[0].embed is not None else None


class EnsembleGenerator(Generator):
    """E mlp generators: z [E*b, z_dim] -> [E*b, D], member k on rows k*b .. (k+1)*b."""

    def __init__(self, opts: EnsembleGOptions) -> None:
        super().__init__()
        _check_members(opts.members)
        copy_shape(self, opts)
        self.members, self.opts = opts.members, opts
        nets = [MLPGenerator(opts) for _ in range(opts.members)]
        self.out_shape = nets[0].out_shape
        self.embed = _stack_embeddings(nets)
        self.net = stack_sequential([g.net for g in nets])
        _scale_gradients(self, float(opts.members))

    def forward_members(self, z: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        """z [E, n, z_dim] (and one-hot c [E, n, c_dim]) -> samples [E, n, *out_shape]."""
        h = z if self.embed is None else torch.cat([z, torch.bmm(c, self.embed)], dim=2)  # [E, n, z_dim + embed]
        return self.net(h).view(*z.shape[:2], *self.out_shape)

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        n, E = z.shape[0], self.members
        if n % E:
            raise GankitError(f"an ensemble of {E} generators needs a batch divisible by {E}, got {n}")
        c = None if c is None else c.view(E, n // E, -1)
        return self.forward_members(z.view(E, n // E, -1), c).reshape(n, *self.out_shape)

    @torch.no_grad()
    def sample_members(self, n: int, seed: int | None = None) -> torch.Tensor:
        """`n` samples from every member, [E, n, D]; member k uses the z `member(k).sample(n, seed=seed)` uses."""
        z, _ = self.latents(n, seed)  # [n, z_dim]
        device = next(self.parameters()).device
        return self.forward_members(z.to(device).expand(self.members, n, -1).contiguous()).cpu()

    def member(self, k: int) -> MLPGenerator:
        """Member k as a plain mlp generator (a copy; same weights, same train/eval mode)."""
        G = MLPGenerator(self.opts)
        unstack_into(self.net, k, G.net)
        if self.embed is not None:
            G.embed.weight.data.copy_(self.embed[k])
        return G.train(self.training)


class EnsembleDiscriminator(Discriminator):
    """E mlp discriminators (each packing `pack` samples): x [s*E*b, D] -> logits [s*E*b/pack].

    The trainer scores [reals; fakes] in one call: two segments of E*b rows, so `member_batch` = b
    must be set (ensemble_config does); with 0 every call is one segment of n/E rows per member."""

    def __init__(self, opts: EnsembleDOptions) -> None:
        super().__init__()
        _check_members(opts.members)
        if opts.member_batch < 0 or opts.member_batch % opts.pack or (opts.pack > 1 and opts.c_dim):
            raise GankitError("model=ensemble needs D.member_batch = batch_size / members, a multiple of D.pack "
                              "(and packing needs an unconditional model)")
        copy_shape(self, opts)
        self.members, self.member_batch, self.pack, self.opts = opts.members, opts.member_batch, opts.pack, opts
        nets = [MLPDiscriminator(self._inner_options()) for _ in range(opts.members)]
        self.embed = _stack_embeddings(nets)
        self.net = stack_sequential([d.net for d in nets])
        _scale_gradients(self, float(opts.members))

    def _inner_options(self) -> MLPDOptions:
        fields = {k: v for k, v in vars(self.opts).items() if k in MLPDOptions.__dataclass_fields__}
        fields.update(pack=1, data_dim=self.opts.data_dim * self.opts.pack)
        return MLPDOptions(**fields)

    def forward(self, x: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        E = self.members
        segment = E * self.member_batch if self.member_batch else x.shape[0]
        if x.shape[0] % segment or segment % E:
            raise GankitError(f"ensemble D: batch {x.shape[0]} is not a stack of segments of members*member_batch = {segment}")
        s, b = x.shape[0] // segment, segment // E
        h = x.reshape(s, E, b, -1).transpose(0, 1)  # [E, s, b, D]
        h = h.reshape(E, s * b // self.pack, -1)  # [E, s*b/m, m*D]: m consecutive samples per pack
        if self.embed is not None:
            labels = c.reshape(s, E, b, -1).transpose(0, 1).reshape(E, s * b, -1)  # [E, s*b, c_dim]
            h = torch.cat([h, torch.bmm(labels, self.embed)], dim=2)
        logits = self.net(h).view(E, s, b // self.pack)  # [E, s, b/m]
        return logits.transpose(0, 1).reshape(-1)  # [s*E*b/m]

    def member(self, k: int) -> Discriminator:
        """Member k as a plain mlp discriminator (wrapped in PackedDiscriminator when pack > 1)."""
        D = MLPDiscriminator(self._inner_options())
        unstack_into(self.net, k, D.net)
        if self.embed is not None:
            D.embed.weight.data.copy_(self.embed[k])
        D.train(self.training)
        return PackedDiscriminator(D, self.pack, self.opts) if self.pack > 1 else D


MODELS.register("ensemble")(ModelFamily(
    name="ensemble", G_options=EnsembleGOptions, D_options=EnsembleDOptions,
    build_G=EnsembleGenerator, build_D=EnsembleDiscriminator, vector_data=True, packs_itself=True,
    summary="E toy mlp G/D pairs trained at once (stacked weights, batched matmuls; many seeds per run)",
))


def ensemble_config(cfg, members: int):
    """A `model: mlp` TrainConfig -> the config training `members` seeds of it at once (batch E*b, EMA half-life x E)."""
    from gankit.config import TrainConfig

    if cfg.model != "mlp":
        raise GankitError(f"only model=mlp recipes can run as an ensemble, not {cfg.model!r}")
    out: TrainConfig = copy.deepcopy(cfg)
    out.model = "ensemble"
    out.batch_size = cfg.batch_size * members
    out.G = {**cfg.G, "members": members}
    out.D = {**cfg.D, "members": members, "member_batch": cfg.batch_size}
    out.ema.kimg = cfg.ema.kimg * members  # the half-life counts the images of all members
    return out
