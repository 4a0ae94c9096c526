"""`seed-gan` and `seed-wgan` equal the seed's own loops, re-implemented here in plain PyTorch.

The plain loops below use no gankit code: the seed's networks (nn.Sequential with Sigmoid and
BCELoss for the GAN), its loops (§2.3 G-first with reused fakes; §4.2 five critic steps on one
real batch with clipping), the same initial weights (copied in), the same images, and the same
random draws (gankit's documented RNG plan: data order from a generator seeded seed*1000+1,
latents from one seeded seed*1000+2, each z drawn for the whole batch in loop order).
"""
import pytest
import torch
from torch import nn

from gankit.training import Trainer
from tests.conftest import QUIET, tiny_images
from gankit.config import load_config

SEED, BATCH, STEPS = 3, 16, 3


def seed_gan_networks():
    def block(i, o, normalize=True):
        layers = [nn.Linear(i, o)]
        if normalize:
            layers.append(nn.BatchNorm1d(o, 0.8))
        layers.append(nn.LeakyReLU(0.2, inplace=True))
        return layers

    G = nn.Sequential(*block(100, 128, False), *block(128, 256), *block(256, 512), *block(512, 1024), nn.Linear(1024, 784), nn.Tanh())
    D = nn.Sequential(nn.Linear(784, 512), nn.LeakyReLU(0.2, inplace=True), nn.Linear(512, 256),
                      nn.LeakyReLU(0.2, inplace=True), nn.Linear(256, 1), nn.Sigmoid())
    return G, D


def seed_wgan_networks():
    G = nn.Sequential(nn.Linear(100, 256), nn.LeakyReLU(0.2), nn.Linear(256, 512), nn.LeakyReLU(0.2),
                      nn.Linear(512, 1024), nn.LeakyReLU(0.2), nn.Linear(1024, 784), nn.Tanh())
    D = nn.Sequential(nn.Linear(784, 512), nn.LeakyReLU(0.2), nn.Linear(512, 256), nn.LeakyReLU(0.2), nn.Linear(256, 1))
    return G, D


def copy_weights(src: nn.Module, dst: nn.Module) -> None:
    """Same layer order, so parameters and buffers correspond one to one."""
    with torch.no_grad():
        for a, b in zip(list(src.parameters()) + list(src.buffers()), list(dst.parameters()) + list(dst.buffers())):
            assert a.shape == b.shape
            b.copy_(a)


def batches(images: torch.Tensor):
    """The data order: one permutation per epoch from a generator seeded seed*1000+1; images x/127.5-1."""
    g = torch.Generator().manual_seed(SEED * 1000 + 1)
    while True:
        perm = torch.randperm(len(images), generator=g)
        for start in range(0, len(images) - BATCH + 1, BATCH):
            yield images[perm[start:start + BATCH]].float() / 127.5 - 1


def run_seed_gan(G, D, images):
    z_gen = torch.Generator().manual_seed(SEED * 1000 + 2)
    loss = nn.BCELoss()
    opt_G = torch.optim.Adam(G.parameters(), lr=0.0002, betas=(0.5, 0.999))
    opt_D = torch.optim.Adam(D.parameters(), lr=0.0002, betas=(0.5, 0.999))
    data = batches(images)
    for _ in range(STEPS):
        imgs = next(data).view(BATCH, -1)
        valid, fake = torch.ones(BATCH, 1), torch.zeros(BATCH, 1)
        opt_G.zero_grad()
        gen_imgs = G(torch.randn(BATCH, 100, generator=z_gen))
        loss(D(gen_imgs), valid).backward()
        opt_G.step()
        opt_D.zero_grad()
        d_loss = (loss(D(imgs), valid) + loss(D(gen_imgs.detach()), fake)) / 2
        d_loss.backward()
        opt_D.step()


def run_seed_wgan(G, D, images):
    z_gen = torch.Generator().manual_seed(SEED * 1000 + 2)
    opt_G = torch.optim.RMSprop(G.parameters(), lr=0.00005)
    opt_D = torch.optim.RMSprop(D.parameters(), lr=0.00005)
    data = batches(images)
    for _ in range(STEPS):
        imgs = next(data).view(BATCH, -1)
        for _ in range(5):
            opt_D.zero_grad()
            gen_imgs = G(torch.randn(BATCH, 100, generator=z_gen))
            d_loss = -torch.mean(D(imgs)) + torch.mean(D(gen_imgs))
            d_loss.backward()
            opt_D.step()
            for p in D.parameters():
                p.data.clamp_(-0.01, 0.01)
        opt_G.zero_grad()
        g_loss = -torch.mean(D(G(torch.randn(BATCH, 100, generator=z_gen))))
        g_loss.backward()
        opt_G.step()


@pytest.mark.parametrize("preset,networks,loop", [
    ("seed-gan", seed_gan_networks, run_seed_gan),
    ("seed-wgan", seed_wgan_networks, run_seed_wgan),
])
def test_preset_equals_the_seed_loop(preset, networks, loop):
    data = tiny_images(n=4 * BATCH, resolution=28, classes=0)
    cfg = load_config(preset, QUIET + [f"steps={STEPS}", f"batch_size={BATCH}", f"seed={SEED}"])
    trainer = Trainer(cfg, data=data)
    G_ref, D_ref = networks()
    copy_weights(trainer.G, G_ref)
    copy_weights(trainer.D, D_ref)
    trainer.train()
    loop(G_ref, D_ref, data.images)
    lr = cfg.optim.G.lr
    for ours, ref in ((trainer.G, G_ref), (trainer.D, D_ref)):
        for a, b in zip(ours.parameters(), ref.parameters()):
            # Float rounding only (the seed takes sigmoid then BCE; we take logits). Adam and RMSprop divide
            # each gradient by its own magnitude, so where an element's gradient is ~1e-8 (a Linear bias
            # before BatchNorm has an exactly-zero true gradient) rounding moves that element by a fraction
            # of a step: measure differences in units of the optimizer's step size.
            assert (a - b).abs().max().item() < 0.05 * lr * STEPS, (preset, tuple(a.shape))
            assert ((a - b).norm() / a.norm()).item() < 1e-4, (preset, tuple(a.shape))
        for a, b in zip(ours.buffers(), ref.buffers()):
            assert torch.allclose(a.float(), b.float(), rtol=1e-4, atol=1e-6), preset
    # and the trained generators agree as functions
    trainer.G.eval()
    G_ref.eval()
    z = torch.randn(32, 100, generator=torch.Generator().manual_seed(99))
    with torch.no_grad():
        ours_out, ref_out = trainer.G(z).flatten(1), G_ref(z)
    assert ((ours_out - ref_out).abs().max() / ref_out.abs().max()).item() < 1e-4
