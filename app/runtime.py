"""Process-wide settings: the app makes them for its own process, the libraries never do
(threads, logging, third-party progress bars)."""

from __future__ import annotations

import logging
import os


def configure_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )


def use_training_threads(threads: int | None = None) -> None:
    """PyTorch's intra-op threads for a training run: as asked, else every core up to 8 (more
    only contend)."""
    import torch

    torch.set_num_threads(threads or max(1, min(os.cpu_count() or 1, 8)))


def quiet_model_loading() -> None:
    """diffusers' and transformers' per-file progress bars would interleave with our progress
    (command line) and fill the app's log."""
    import diffusers
    import transformers

    diffusers.utils.logging.disable_progress_bar()
    transformers.utils.logging.disable_progress_bar()
