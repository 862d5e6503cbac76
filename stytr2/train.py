"""Training StyTr² with the paper's losses and schedule (`studio train-stytr2`).

Losses (Deng et al. 2022, as the official train.py weighs them): content 7 (mean-variance
normalised VGG relu4_1 and relu5_1 features), style 10 (mean and std of relu1_1..relu5_1),
identity 1 weight 70 (pixels of the content and style reconstructed through their own
path) and identity 2 weight 1 (VGG features of those reconstructions). Adam; learning rate
warmed up from 5e-5 to 2e-4 over 10k steps, then 2e-4 / (1 + 1e-5 · (step − 10k)); batches of
8 random 256² crops of images resized to 512². We keep those weights: they are what the
released checkpoints were trained with. The VGG loss network must be the official
`vgg_normalised.pth`; training refuses to start without it.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from export.checks import check_config
from export.folder import ModelFolderError
from export.images import ImageError, open_image, to_tensor
from export.weights import load_model_folder, save_model_folder
from stytr2.model import StyTr2Config, StyTr2Net
from stytr2.official import WHERE_TO_GET, read_official_vgg
from stytr2.vgg import VGGConfig, VGGEncoder

log = logging.getLogger(__name__)
STATE_FILE = "train_state.pt"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")


@dataclass
class StyleTrainConfig:
    steps: int = 160_000
    batch: int = 8
    resize_px: int = 512
    crop_px: int = 256
    warmup_steps: int = 10_000
    lr_start: float = 5e-5
    lr_peak: float = 2e-4
    lr_decay: float = 1e-5
    content_weight: float = 7.0
    style_weight: float = 10.0
    identity1_weight: float = 70.0
    identity2_weight: float = 1.0
    save_every: int = 1000
    seed: int = 0

    def __post_init__(self):
        positive = (0.0, 1e6)
        check_config(
            self,
            {
                "steps": (1, 100_000_000),
                "batch": (1, 4096),
                "resize_px": (16, 8192),
                "crop_px": (16, 8192),
                "warmup_steps": (0, 100_000_000),
                "lr_start": positive,
                "lr_peak": positive,
                "lr_decay": positive,
                "content_weight": positive,
                "style_weight": positive,
                "identity1_weight": positive,
                "identity2_weight": positive,
                "save_every": (1, 100_000_000),
                "seed": (0, 2**63 - 1),
            },
        )

    def lr(self, step: int) -> float:
        if step < self.warmup_steps:
            return self.lr_start + (self.lr_peak - self.lr_start) * step / self.warmup_steps
        return self.lr_peak / (1.0 + self.lr_decay * (step - self.warmup_steps))


def load_vgg(path: str | Path | None) -> VGGEncoder:
    """The official VGG (`vgg_normalised.pth`, or a folder written by import-stytr2)."""
    if path is None:
        raise ModelFolderError(
            "training needs the official VGG loss network: give {vgg_path} "
            f"(vgg_normalised.pth, or the vgg/ folder the importer writes). {WHERE_TO_GET}",
            "vgg_path",
        )
    path = Path(path)
    if path.is_dir():
        _, vgg = load_model_folder(path, VGGConfig, VGGEncoder)
        return vgg
    vgg = VGGEncoder()
    vgg.load_state_dict(read_official_vgg(path))
    return vgg.eval()


def image_files(folder: str | Path) -> list[Path]:
    folder = Path(folder)
    if not folder.is_dir():
        raise ImageError(f"{folder}: no such folder")
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise ImageError(f"{folder}: no images ({', '.join(IMAGE_SUFFIXES)})")
    return files


class Crops:
    """Random crops of images resized to a square, as the official data loader makes them."""

    def __init__(self, files: list[Path], tc: StyleTrainConfig, rng: np.random.Generator):
        self.files, self.tc, self.rng = files, tc, rng

    def batch(self) -> torch.Tensor:
        out = []
        for i in self.rng.integers(0, len(self.files), self.tc.batch):
            try:
                image = open_image(self.files[i])
            except ImageError as e:
                log.warning("skipping %s", e)
                continue
            x = to_tensor(image.resize((self.tc.resize_px,) * 2, Image.Resampling.BILINEAR))
            top, left = self.rng.integers(0, self.tc.resize_px - self.tc.crop_px + 1, 2)
            out.append(x[..., top : top + self.tc.crop_px, left : left + self.tc.crop_px])
        if not out:
            raise ImageError("no readable image in this batch")
        return torch.cat(out)


def mean_std(feat: torch.Tensor, eps: float = 1e-5) -> tuple[torch.Tensor, torch.Tensor]:
    flat = feat.flatten(2)  # (B, C, H·W)
    return flat.mean(-1)[..., None, None], (flat.var(-1) + eps).sqrt()[..., None, None]


def normalised(feat: torch.Tensor) -> torch.Tensor:
    mean, std = mean_std(feat)
    return (feat - mean) / std


def losses(net: StyTr2Net, vgg: VGGEncoder, content: torch.Tensor, style: torch.Tensor) -> dict:
    """The four losses of one batch (unweighted)."""
    feats = lambda x: list(vgg(x).values())  # noqa: E731  (relu1_1 .. relu5_1)
    with torch.no_grad():
        f_c, f_s = feats(content), feats(style)
    emb_c, emb_s = net.embedding(content), net.embedding(style)
    stylised = net.decoder(net.transformer(emb_c, emb_s))
    f_cs = feats(stylised)
    loss_c = sum(F.mse_loss(normalised(f_cs[i]), normalised(f_c[i])) for i in (3, 4))
    loss_s = 0.0
    for a, b in zip(f_cs, f_s, strict=True):
        (ma, sa), (mb, sb) = mean_std(a), mean_std(b)
        loss_s = loss_s + F.mse_loss(ma, mb) + F.mse_loss(sa, sb)
    cc = net.decoder(net.transformer(emb_c, emb_c))
    ss = net.decoder(net.transformer(emb_s, emb_s))
    id1 = F.mse_loss(cc, content) + F.mse_loss(ss, style)
    f_cc, f_ss = feats(cc), feats(ss)
    id2 = sum(F.mse_loss(f_cc[i], f_c[i]) + F.mse_loss(f_ss[i], f_s[i]) for i in range(5))
    return {"content": loss_c, "style": loss_s, "identity1": id1, "identity2": id2}


def train_stytr2(
    content_dir: Path,
    style_dir: Path,
    out_dir: Path,
    vgg_path: Path | None,
    tc: StyleTrainConfig | None = None,
    config: StyTr2Config | None = None,
    init_dir: Path | None = None,
    progress=print,
) -> list[dict]:
    """Train (or resume from OUT_DIR/train_state.pt); returns the loss history."""
    tc = tc or StyleTrainConfig()
    vgg = load_vgg(vgg_path)
    for p in vgg.parameters():
        p.requires_grad_(False)
    contents, styles = image_files(content_dir), image_files(style_dir)
    out_dir = Path(out_dir)
    state_path = out_dir / STATE_FILE
    torch.manual_seed(tc.seed)
    if init_dir is not None:
        config, net = load_model_folder(init_dir, StyTr2Config, StyTr2Net)
    else:
        config = config or StyTr2Config()
        net = StyTr2Net(config)
    opt = torch.optim.Adam(net.parameters(), lr=tc.lr(0))
    rng = np.random.default_rng(tc.seed)
    step, history = 0, []
    if state_path.is_file():
        state = torch.load(state_path, weights_only=True)
        if state["train_config"] != asdict(tc):
            raise ValueError(f"{state_path}: saved with other settings; use another -o folder")
        net.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        step, history = state["step"], state["history"]
        rng = np.random.default_rng([tc.seed, step])
        progress(f"resuming at step {step}")
    content_crops, style_crops = Crops(contents, tc, rng), Crops(styles, tc, rng)
    weights = {
        "content": tc.content_weight,
        "style": tc.style_weight,
        "identity1": tc.identity1_weight,
        "identity2": tc.identity2_weight,
    }
    net.train()
    start = time.time()
    while step < tc.steps:
        for group in opt.param_groups:
            group["lr"] = tc.lr(step)
        parts = losses(net, vgg, content_crops.batch(), style_crops.batch())
        total = sum(weights[k] * v for k, v in parts.items())
        opt.zero_grad()
        total.backward()
        opt.step()
        step += 1
        history.append(
            {
                "step": step,
                "loss": round(total.item(), 5),
                **{k: round(float(v.detach()), 5) for k, v in parts.items()},
            }
        )
        if step % max(1, tc.save_every // 10) == 0 or step == tc.steps:
            rate = step / max(time.time() - start, 1e-6)
            progress(f"step {step}/{tc.steps} loss {total.item():.4f} ({rate:.2f} steps/s)")
        if step % tc.save_every == 0 or step == tc.steps:
            save_model_folder(out_dir, config, net)
            torch.save(
                {
                    "train_config": asdict(tc),
                    "model": net.state_dict(),
                    "optimizer": opt.state_dict(),
                    "step": step,
                    "history": history,
                },
                state_path,
            )
    net.eval()
    return history
