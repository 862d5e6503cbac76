"""Import KLab-format GenéLive! checkpoints (their key names) into our model folder format."""

from __future__ import annotations

import re
from pathlib import Path

import torch

from export.checkpoint import read_state_dict
from export.folder import ModelFolderError
from export.weights import check_state_dict, save_model_folder
from genelive.onsets.config import OnsetConfig
from genelive.onsets.nets import OnsetNet

# KLab's branch is one nn.Sequential; these are the positions of its four conv and BN layers.
_KLAB_CONV_INDEX = {0: 0, 3: 1, 8: 2, 13: 3}
_KLAB_BN_INDEX = {1: 0, 4: 1, 9: 2, 14: 3}


def klab_to_ours(key: str) -> str:
    """'onset_stack.cnns.2.8.weight' → 'conv_stack.branches.2.blocks.2.conv.weight', etc."""
    m = re.fullmatch(r"onset_stack\.cnns\.(\d+)\.(\d+)\.(.+)", key)
    if m:
        branch, index, param = int(m[1]), int(m[2]), m[3]
        if index in _KLAB_CONV_INDEX:
            return f"conv_stack.branches.{branch}.blocks.{_KLAB_CONV_INDEX[index]}.conv.{param}"
        if index in _KLAB_BN_INDEX:
            return f"conv_stack.branches.{branch}.blocks.{_KLAB_BN_INDEX[index]}.bn.{param}"
        raise ModelFolderError(f"unexpected KLab conv-stack key {key!r}")
    if key.startswith("onset_sequence.rnn."):
        return "lstm." + key.removeprefix("onset_sequence.rnn.")
    if key.startswith("onset_linear.0."):
        return "head." + key.removeprefix("onset_linear.0.")
    raise ModelFolderError(f"not a KLab GenéLive! (SimpleOnsets, ConvStackV7) key: {key!r}")


def config_from_klab(state: dict[str, torch.Tensor]) -> OnsetConfig:
    """Infer sizes from the tensors; the chunked eval-mode LSTM of their code is kept."""
    try:
        conv_channels = state["onset_stack.cnns.0.0.weight"].shape[0]
        n_branches = 1 + max(int(k.split(".")[2]) for k in state if k.startswith("onset_stack."))
        lstm_hidden = state["onset_sequence.rnn.weight_hh_l0"].shape[1]
        lstm_layers = 1 + max(int(m[1]) for k in state if (m := re.search(r"weight_hh_l(\d+)$", k)))
        n_extra = state["onset_sequence.rnn.weight_ih_l0"].shape[1] - 4 * conv_channels * n_branches
    except (KeyError, ValueError) as e:
        raise ModelFolderError(f"not a KLab GenéLive! state dict (missing {e})") from e
    if n_branches != 4 or n_extra not in (0, 1, 2):
        raise ModelFolderError("only ConvStackV7 (4 branches) GenéLive! checkpoints are supported")
    # With one extra input we cannot tell difficulty from beats; KLab's released setup has both.
    return OnsetConfig(
        conv_channels=conv_channels,
        lstm_hidden=lstm_hidden,
        lstm_layers=lstm_layers,
        use_difficulty=n_extra >= 1,
        use_beats=n_extra == 2,
        lstm_chunk_frames=640,
    )


def import_klab_state_dict(state: dict[str, torch.Tensor]) -> tuple[OnsetConfig, OnsetNet]:
    config = config_from_klab(state)
    net = OnsetNet(config)
    ours = {klab_to_ours(k): v for k, v in state.items()}
    check_state_dict(net.state_dict(), ours, "KLab checkpoint")
    net.load_state_dict(ours, strict=True)
    return config, net.eval()


def import_klab(
    checkpoint: str | Path, out_dir: str | Path, allow_pickle: bool = False
) -> OnsetConfig:
    """`studio import-klab`: a KLab `.pth` state dict → our folder (config.json + safetensors)."""
    state = read_state_dict(checkpoint, allow_pickle=allow_pickle)
    config, net = import_klab_state_dict(state)
    save_model_folder(
        out_dir,
        config,
        net,
        {"provenance.json": {"imported_from": str(checkpoint), "format": "KLab/AAAI-23.6040"}},
    )
    return config
