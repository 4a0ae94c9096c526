"""The seed-style reference loop: the speed reference every gankit benchmark is measured against.

Plain PyTorch (torch, numpy and the standard library only; it never imports gankit), reproducing
how the seed tutorial's source scripts train on MNIST-like data (GUIDE §9):

* data: a `torch.utils.data.Dataset` whose `__getitem__` converts ONE uint8 28x28 sample at a time
  to a normalised float tensor [1, 28, 28] -- the PIL-free equivalent of torchvision's
  `ToTensor()` then `Normalize([0.5], [0.5])` -- wrapped in `DataLoader(batch_size=64,
  shuffle=True, num_workers=0, drop_last=True)`;
* models and loops written as in the seed:
  - `gan`:  §2.1 Generator / Discriminator MLPs and the §2.3 loop (per batch: G step on fresh z
    first, BCE against ones; then a D step on the same real batch and the *same* generated images,
    detached; d_loss = (real + fake) / 2); Adam 2e-4, betas (0.5, 0.999); latent_dim 100.
  - `wgan`: §4.2 models and loop (per batch: 5 critic steps that all reuse the one real batch with
    fresh z each -- not detached, so each critic step also back-propagates through G, as in the
    seed -- each followed by clipping the critic's weights to [-0.01, 0.01]; then one G step on
    fresh z); RMSprop 5e-5.
  - `cgan`: §5.2 models; the seed gives no cGAN loop, so this is the §2.3 loop with labels (real
    images with their labels, fake labels drawn uniformly with `torch.randint`, BCE).
  - `dcgan`: no seed code; a plain 28x28 DCGAN (ConvTranspose 7 -> 14 -> 28; Conv 28 -> 14 -> 7 -> 1,
    BCE with logits, N(0, 0.02) init as in the PyTorch DCGAN tutorial, Adam 2e-4 (0.5, 0.999)),
    d-first: a D step on real + G(z).detach(), then a non-saturating G step on the same fakes
    re-scored by the updated D. The reference for gankit's `dcgan` preset.

The two seed slips that matter here, as documented in GUIDE.md:
1. `nn.BatchNorm1d(out_feat, 0.8)` in the §2.1 generator passes 0.8 as **eps**, not momentum. It is
   kept here (this is the faithful reference); the cGAN generator uses the default eps as the seed
   writes it there.
2. The §5.2 cGAN discriminator embeds labels `prod(img_shape)` (784) wide but sizes its first layer
   for 784 + num_classes inputs, so it cannot run as written. Here the discriminator's embedding is
   `nn.Embedding(num_classes, num_classes)`, the evident intent.

`images` counts real images consumed: one real batch per generator step for every model (the seed's
WGAN reuses its one real batch for all 5 critic steps). Timing excludes reading the dataset into
memory and building the models, and starts after one warm-up step; it includes the per-sample
DataLoader work, which is part of what the reference measures.

    python benchmarks/reference_loop.py --models gan,wgan,cgan,dcgan --seconds 20
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import struct
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn as nn
import torch.optim as optim
from torch.utils.data import DataLoader, Dataset

MODELS = ("gan", "wgan", "cgan", "dcgan")
LATENT_DIM = 100
NUM_CLASSES = 10
IMG_SHAPE = (1, 28, 28)
DEFAULT_ROOT = "/usr/share/datasets/fashion-mnist"


# ----------------------------------------------------------------------------- data

def _read_idx(path: Path, magic: int) -> np.ndarray:
    """A gzip'd idx file (MNIST format) as a uint8 array of its declared shape."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    got, = struct.unpack(">I", data[:4])
    if got != magic:
        raise ValueError(f"{path}: idx magic {got}, expected {magic}")
    ndim = magic & 0xFF
    shape = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    arr = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if arr.size != int(np.prod(shape)):
        raise ValueError(f"{path}: {arr.size} bytes of data for shape {shape}")
    return arr.reshape(shape).copy()  # writable, so torch.from_numpy does not warn


def load_fashion_mnist(root: str | Path = DEFAULT_ROOT, split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """Fashion-MNIST (or any MNIST-format idx set) as uint8 images [N, 28, 28] and int64 labels [N]."""
    if split not in ("train", "t10k", "test"):
        raise ValueError(f"split must be 'train' or 't10k', got {split!r}")
    prefix = "t10k" if split in ("t10k", "test") else "train"
    root = Path(root)
    img_path = root / f"{prefix}-images-idx3-ubyte.gz"
    lbl_path = root / f"{prefix}-labels-idx1-ubyte.gz"
    for p in (img_path, lbl_path):
        if not p.is_file():
            raise FileNotFoundError(f"{p} not found (Debian package dataset-fashion-mnist installs it)")
    images = _read_idx(img_path, 2051)  # [N, 28, 28] uint8
    labels = _read_idx(lbl_path, 2049).astype(np.int64)  # [N]
    if len(images) != len(labels):
        raise ValueError(f"{root}: {len(images)} images but {len(labels)} labels")
    return images, labels


class SeedStyleDataset(Dataset):
    """One sample at a time: uint8 [28, 28] -> ToTensor -> Normalize([0.5], [0.5]) -> float [1, 28, 28]."""

    def __init__(self, images: np.ndarray, labels: np.ndarray) -> None:
        self.images = images
        self.labels = labels

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int):
        x = torch.from_numpy(self.images[index]).float().div(255).unsqueeze(0)  # ToTensor: [1, 28, 28] in [0, 1]
        x = (x - 0.5) / 0.5  # Normalize([0.5], [0.5]): [-1, 1]
        return x, int(self.labels[index])


# ----------------------------------------------------------------------------- seed §2.1 GAN

class Generator(nn.Module):
    """Seed §2.1 generator (BatchNorm1d(out, 0.8): eps = 0.8, the seed's slip, kept)."""

    def __init__(self, latent_dim, img_shape):
        super(Generator, self).__init__()
        self.img_shape = img_shape

        def block(in_feat, out_feat, normalize=True):
            layers = [nn.Linear(in_feat, out_feat)]
            if normalize:
                layers.append(nn.BatchNorm1d(out_feat, 0.8))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
            return layers

        self.model = nn.Sequential(
            *block(latent_dim, 128, normalize=False),
            *block(128, 256),
            *block(256, 512),
            *block(512, 1024),
            nn.Linear(1024, int(torch.prod(torch.tensor(img_shape)))),
            nn.Tanh()
        )

    def forward(self, z):
        img = self.model(z)
        img = img.view(img.size(0), *self.img_shape)
        return img


class Discriminator(nn.Module):
    """Seed §2.1 discriminator: 784 -> 512 -> 256 -> 1, Sigmoid."""

    def __init__(self, img_shape):
        super(Discriminator, self).__init__()
        self.model = nn.Sequential(
            nn.Linear(int(torch.prod(torch.tensor(img_shape))), 512),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(512, 256),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(256, 1),
            nn.Sigmoid()
        )

    def forward(self, img):
        img_flat = img.view(img.size(0), -1)
        validity = self.model(img_flat)
        return validity


# ----------------------------------------------------------------------------- seed §4.2 WGAN

class WGAN_Generator(nn.Module):
    """Seed §4.2 generator: 256/512/1024 LeakyReLU, no BatchNorm, Tanh."""

    def __init__(self, latent_dim, img_shape):
        super().__init__()
        self.img_shape = img_shape
        self.model = nn.Sequential(
            nn.Linear(latent_dim, 256),
            nn.LeakyReLU(0.2),
            nn.Linear(256, 512),
            nn.LeakyReLU(0.2),
            nn.Linear(512, 1024),
            nn.LeakyReLU(0.2),
            nn.Linear(1024, int(torch.prod(torch.tensor(img_shape)))),
            nn.Tanh()
        )

    def forward(self, z):
        img = self.model(z)
        img = img.view(img.size(0), *self.img_shape)
        return img


class WGAN_Discriminator(nn.Module):
    """Seed §4.2 critic: 784 -> 512 -> 256 -> 1, no sigmoid."""

    def __init__(self, img_shape):
        super().__init__()
        self.model = nn.Sequential(
            nn.Linear(int(torch.prod(torch.tensor(img_shape))), 512),
            nn.LeakyReLU(0.2),
            nn.Linear(512, 256),
            nn.LeakyReLU(0.2),
            nn.Linear(256, 1)
        )

    def forward(self, img):
        img_flat = img.view(img.size(0), -1)
        validity = self.model(img_flat)
        return validity


# ----------------------------------------------------------------------------- seed §5.2 cGAN

class ConditionalGenerator(nn.Module):
    """Seed §5.2 conditional generator: [z, Embedding(10, 10)(label)] -> MLP with BatchNorm1d (default eps)."""

    def __init__(self, latent_dim, num_classes, img_shape):
        super().__init__()
        self.img_shape = img_shape
        self.label_emb = nn.Embedding(num_classes, num_classes)
        self.model = nn.Sequential(
            nn.Linear(latent_dim + num_classes, 128),
            nn.LeakyReLU(0.2),
            nn.Linear(128, 256),
            nn.BatchNorm1d(256),
            nn.LeakyReLU(0.2),
            nn.Linear(256, 512),
            nn.BatchNorm1d(512),
            nn.LeakyReLU(0.2),
            nn.Linear(512, 1024),
            nn.BatchNorm1d(1024),
            nn.LeakyReLU(0.2),
            nn.Linear(1024, int(torch.prod(torch.tensor(img_shape)))),
            nn.Tanh()
        )

    def forward(self, z, labels):
        label_embedding = self.label_emb(labels)
        gen_input = torch.cat((z, label_embedding), dim=-1)
        img = self.model(gen_input)
        img = img.view(img.size(0), *self.img_shape)
        return img


class ConditionalDiscriminator(nn.Module):
    """Seed §5.2 conditional discriminator, with the documented fix: a num_classes-wide label embedding."""

    def __init__(self, num_classes, img_shape):
        super().__init__()
        self.img_shape = img_shape
        # The seed writes nn.Embedding(num_classes, prod(img_shape)), which cannot run with the
        # first layer below (sized for prod(img_shape) + num_classes inputs); num_classes wide is the intent.
        self.label_emb = nn.Embedding(num_classes, num_classes)
        self.model = nn.Sequential(
            nn.Linear(int(torch.prod(torch.tensor(img_shape))) + num_classes, 512),
            nn.LeakyReLU(0.2),
            nn.Dropout(0.4),
            nn.Linear(512, 512),
            nn.LeakyReLU(0.2),
            nn.Dropout(0.4),
            nn.Linear(512, 1),
            nn.Sigmoid()
        )

    def forward(self, img, labels):
        label_embedding = self.label_emb(labels)
        d_in = torch.cat((img.view(img.size(0), -1), label_embedding), dim=-1)
        validity = self.model(d_in)
        return validity


# ----------------------------------------------------------------------------- plain DCGAN (no seed code)

class DCGAN_Generator(nn.Module):
    """z [N, 100, 1, 1] -> 7x7x128 -> 14x14x64 -> 28x28x1, Tanh (the size of gankit's `dcgan` preset)."""

    def __init__(self, latent_dim=LATENT_DIM):
        super().__init__()
        self.main = nn.Sequential(
            nn.ConvTranspose2d(latent_dim, 128, 7, 1, 0, bias=False),
            nn.BatchNorm2d(128),
            nn.ReLU(True),
            nn.ConvTranspose2d(128, 64, 4, 2, 1, bias=False),
            nn.BatchNorm2d(64),
            nn.ReLU(True),
            nn.ConvTranspose2d(64, 1, 4, 2, 1),
            nn.Tanh()
        )

    def forward(self, z):
        return self.main(z)


class DCGAN_Discriminator(nn.Module):
    """[N, 1, 28, 28] -> 14x14x32 -> 7x7x64 -> 1 logit (BCE with logits)."""

    def __init__(self):
        super().__init__()
        self.main = nn.Sequential(
            nn.Conv2d(1, 32, 4, 2, 1),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(32, 64, 4, 2, 1, bias=False),
            nn.BatchNorm2d(64),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(64, 1, 7, 1, 0)
        )

    def forward(self, img):
        return self.main(img).view(-1)


def weights_init(m):
    """PyTorch DCGAN tutorial init: conv weights N(0, 0.02); BatchNorm weight N(1, 0.02), bias 0."""
    classname = m.__class__.__name__
    if classname.find("Conv") != -1:
        nn.init.normal_(m.weight.data, 0.0, 0.02)
    elif classname.find("BatchNorm") != -1:
        nn.init.normal_(m.weight.data, 1.0, 0.02)
        nn.init.constant_(m.bias.data, 0)


# ----------------------------------------------------------------------------- one loop iteration per model
# Each builder returns (step, modules): step(imgs, labels) runs one iteration of the seed's loop
# body (one generator step) and returns its last {"G": g_loss, "D": d_loss} tensors.

Step = Callable[[torch.Tensor, torch.Tensor], dict]


def _build_gan(device) -> tuple[Step, list[nn.Module]]:
    latent_dim = LATENT_DIM
    generator = Generator(latent_dim, IMG_SHAPE).to(device)
    discriminator = Discriminator(IMG_SHAPE).to(device)
    adversarial_loss = torch.nn.BCELoss()
    optimizer_G = optim.Adam(generator.parameters(), lr=0.0002, betas=(0.5, 0.999))
    optimizer_D = optim.Adam(discriminator.parameters(), lr=0.0002, betas=(0.5, 0.999))

    def step(imgs, _labels):
        batch_size = imgs.size(0)
        imgs = imgs.to(device)
        valid = torch.ones(batch_size, 1).to(device)
        fake = torch.zeros(batch_size, 1).to(device)
        # train the generator
        optimizer_G.zero_grad()
        z = torch.randn(batch_size, latent_dim).to(device)
        gen_imgs = generator(z)
        g_loss = adversarial_loss(discriminator(gen_imgs), valid)
        g_loss.backward()
        optimizer_G.step()
        # train the discriminator
        optimizer_D.zero_grad()
        real_loss = adversarial_loss(discriminator(imgs), valid)
        fake_loss = adversarial_loss(discriminator(gen_imgs.detach()), fake)
        d_loss = (real_loss + fake_loss) / 2
        d_loss.backward()
        optimizer_D.step()
        return {"G": g_loss.detach(), "D": d_loss.detach()}

    return step, [generator, discriminator]


def _build_wgan(device, clip_value=0.01) -> tuple[Step, list[nn.Module]]:
    latent_dim = LATENT_DIM
    generator = WGAN_Generator(latent_dim, IMG_SHAPE).to(device)
    discriminator = WGAN_Discriminator(IMG_SHAPE).to(device)
    optimizer_G = optim.RMSprop(generator.parameters(), lr=0.00005)
    optimizer_D = optim.RMSprop(discriminator.parameters(), lr=0.00005)

    def step(imgs, _labels):
        batch_size = imgs.size(0)
        imgs = imgs.to(device)
        # train the critic (several iterations on the same real batch)
        for _ in range(5):
            optimizer_D.zero_grad()
            z = torch.randn(batch_size, latent_dim).to(device)
            gen_imgs = generator(z)
            d_loss = -torch.mean(discriminator(imgs)) + torch.mean(discriminator(gen_imgs))
            d_loss.backward()
            optimizer_D.step()
            # weight clipping
            for p in discriminator.parameters():
                p.data.clamp_(-clip_value, clip_value)
        # train the generator
        optimizer_G.zero_grad()
        z = torch.randn(batch_size, latent_dim).to(device)
        gen_imgs = generator(z)
        g_loss = -torch.mean(discriminator(gen_imgs))
        g_loss.backward()
        optimizer_G.step()
        return {"G": g_loss.detach(), "D": d_loss.detach()}

    return step, [generator, discriminator]


def _build_cgan(device) -> tuple[Step, list[nn.Module]]:
    latent_dim, num_classes = LATENT_DIM, NUM_CLASSES
    generator = ConditionalGenerator(latent_dim, num_classes, IMG_SHAPE).to(device)
    discriminator = ConditionalDiscriminator(num_classes, IMG_SHAPE).to(device)
    adversarial_loss = torch.nn.BCELoss()
    optimizer_G = optim.Adam(generator.parameters(), lr=0.0002, betas=(0.5, 0.999))
    optimizer_D = optim.Adam(discriminator.parameters(), lr=0.0002, betas=(0.5, 0.999))

    def step(imgs, labels):
        batch_size = imgs.size(0)
        imgs = imgs.to(device)
        labels = labels.to(device)
        valid = torch.ones(batch_size, 1).to(device)
        fake = torch.zeros(batch_size, 1).to(device)
        # train the generator
        optimizer_G.zero_grad()
        z = torch.randn(batch_size, latent_dim).to(device)
        gen_labels = torch.randint(0, num_classes, (batch_size,)).to(device)
        gen_imgs = generator(z, gen_labels)
        g_loss = adversarial_loss(discriminator(gen_imgs, gen_labels), valid)
        g_loss.backward()
        optimizer_G.step()
        # train the discriminator
        optimizer_D.zero_grad()
        real_loss = adversarial_loss(discriminator(imgs, labels), valid)
        fake_loss = adversarial_loss(discriminator(gen_imgs.detach(), gen_labels), fake)
        d_loss = (real_loss + fake_loss) / 2
        d_loss.backward()
        optimizer_D.step()
        return {"G": g_loss.detach(), "D": d_loss.detach()}

    return step, [generator, discriminator]


def _build_dcgan(device) -> tuple[Step, list[nn.Module]]:
    latent_dim = LATENT_DIM
    netG = DCGAN_Generator(latent_dim).to(device)
    netD = DCGAN_Discriminator().to(device)
    netG.apply(weights_init)
    netD.apply(weights_init)
    criterion = nn.BCEWithLogitsLoss()
    optimizerD = optim.Adam(netD.parameters(), lr=0.0002, betas=(0.5, 0.999))
    optimizerG = optim.Adam(netG.parameters(), lr=0.0002, betas=(0.5, 0.999))

    def step(imgs, _labels):
        batch_size = imgs.size(0)
        real = imgs.to(device)
        ones = torch.ones(batch_size, device=device)
        zeros = torch.zeros(batch_size, device=device)
        z = torch.randn(batch_size, latent_dim, 1, 1, device=device)
        fake = netG(z)
        # D step: real vs detached fakes
        optimizerD.zero_grad()
        errD = criterion(netD(real), ones) + criterion(netD(fake.detach()), zeros)
        errD.backward()
        optimizerD.step()
        # G step: non-saturating loss on the same fakes, re-scored by the updated D
        optimizerG.zero_grad()
        errG = criterion(netD(fake), ones)
        errG.backward()
        optimizerG.step()
        return {"G": errG.detach(), "D": errD.detach()}

    return step, [netG, netD]


_BUILDERS = {"gan": _build_gan, "wgan": _build_wgan, "cgan": _build_cgan, "dcgan": _build_dcgan}


# ----------------------------------------------------------------------------- timing

def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def run_reference(model: str, seconds: float | None = None, steps: int | None = None, batch_size: int = 64,
                  seed: int = 0, threads: int | None = None, device: str = "cpu",
                  data: tuple[np.ndarray, np.ndarray] | None = None, root: str | Path = DEFAULT_ROOT,
                  snapshot_every: float | None = None,
                  on_snapshot: Callable[[float, list[nn.Module]], None] | None = None) -> dict:
    """Train the seed-style loop; returns {"model", "steps", "images", "seconds", "images_per_s", "final_losses": {...}}.

    Stops after `steps` timed generator steps or `seconds` of timed training, whichever comes first
    (at least one is required). 'images' = real images consumed (one real batch per G step for
    every model). Timing excludes loading the data into memory (`data` may pass arrays already
    loaded) and building the models, and starts after one warm-up step. The global torch RNG and
    the thread count are restored afterwards. With `snapshot_every`, `on_snapshot(timed_seconds, modules)`
    is called each time another `snapshot_every` seconds of training have passed; its own time is
    not counted (the time-to-quality benchmark scores the generator there).
    """
    if model not in _BUILDERS:
        raise ValueError(f"unknown model {model!r}; choose from {', '.join(MODELS)}")
    if seconds is None and steps is None:
        raise ValueError("give seconds=, steps= or both")
    if steps is not None and steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    dev = torch.device(device)
    images, labels = data if data is not None else load_fashion_mnist(root, "train")
    if len(images) < batch_size:
        raise ValueError(f"{len(images)} images cannot fill one batch of {batch_size}")
    old_threads = torch.get_num_threads()
    fork_devices = [dev.index if dev.index is not None else torch.cuda.current_device()] if dev.type == "cuda" else []
    try:
        if threads is not None:
            torch.set_num_threads(threads)
        with torch.random.fork_rng(devices=fork_devices):
            torch.manual_seed(seed)
            step, modules = _BUILDERS[model](dev)
            for m in modules:
                m.train()
            dataloader = DataLoader(SeedStyleDataset(images, labels), batch_size=batch_size, shuffle=True,
                                    num_workers=0, drop_last=True)
            batches = iter(dataloader)

            def next_batch():
                nonlocal batches
                try:
                    return next(batches)
                except StopIteration:  # a new epoch: reshuffle, as the seed's `for epoch` loop does
                    batches = iter(dataloader)
                    return next(batches)

            imgs, lbls = next_batch()
            losses = step(imgs, lbls)  # warm-up step, not timed
            _sync(dev)
            n = 0
            start = time.perf_counter()
            elapsed = 0.0
            next_snapshot = snapshot_every
            while True:
                imgs, lbls = next_batch()
                losses = step(imgs, lbls)
                n += 1
                if next_snapshot is not None and time.perf_counter() - start >= next_snapshot:
                    _sync(dev)
                    paused = time.perf_counter()
                    on_snapshot(paused - start, modules)
                    start += time.perf_counter() - paused  # the callback's time is not training time
                    next_snapshot += snapshot_every
                if steps is not None and n >= steps:
                    break
                if seconds is not None and time.perf_counter() - start >= seconds:
                    break
            _sync(dev)
            elapsed = time.perf_counter() - start
    finally:
        torch.set_num_threads(old_threads)
    return {
        "model": model,
        "steps": n,
        "images": n * batch_size,
        "seconds": elapsed,
        "images_per_s": n * batch_size / elapsed if elapsed > 0 else float("inf"),
        "final_losses": {k: float(v) for k, v in losses.items()},
        "batch_size": batch_size,
        "threads": threads if threads is not None else old_threads,
        "device": str(dev),
    }


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main(argv: list[str] | None = None) -> None:
    """Run each model for --seconds and print one JSON line per model (images/s)."""
    ap = argparse.ArgumentParser(description="Seed-style reference loop throughput (images/s).")
    ap.add_argument("--models", default=",".join(MODELS), help="comma-separated subset of " + ",".join(MODELS))
    ap.add_argument("--seconds", type=float, default=20.0, help="timed seconds per model")
    ap.add_argument("--steps", type=int, default=None, help="stop after this many timed steps instead")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--root", default=DEFAULT_ROOT, help="folder with the Fashion-MNIST idx .gz files")
    args = ap.parse_args(argv)
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    for m in models:
        if m not in _BUILDERS:
            ap.error(f"unknown model {m!r}; choose from {', '.join(MODELS)}")
    data = load_fashion_mnist(args.root, "train")
    machine = torch.cuda.get_device_name(torch.device(args.device)) if args.device.startswith("cuda") else _cpu_name()
    for m in models:
        res = run_reference(m, seconds=None if args.steps else args.seconds, steps=args.steps,
                            batch_size=args.batch_size, seed=args.seed, threads=args.threads,
                            device=args.device, data=data)
        res["seconds"] = round(res["seconds"], 3)
        res["images_per_s"] = round(res["images_per_s"], 1)
        res["final_losses"] = {k: round(v, 4) for k, v in res["final_losses"].items()}
        res.update(torch=torch.__version__, machine=machine, cpus=os.cpu_count())
        print(json.dumps(res), flush=True)


if __name__ == "__main__":
    main()
