"""The step-selection LSTM (PyTorch): the previous row's state, the row's features and its
log-mel frame in, the next state's logits out; one step at a time when sampling."""

from __future__ import annotations

import torch
from torch import nn

from genelive.features import N_MELS
from genelive.steps.arrows import N_STATES
from genelive.steps.config import N_ROW_FEATURES, StepConfig


class StepNet(nn.Module):
    def __init__(self, config: StepConfig):
        super().__init__()
        self.config = config
        self.state_embed = nn.Embedding(N_STATES + 1, config.state_dim)
        self.audio_proj = nn.Linear(N_MELS, config.audio_dim)
        self.lstm = nn.LSTM(
            config.state_dim + config.audio_dim + N_ROW_FEATURES,
            config.hidden,
            config.layers,
            batch_first=True,
            dropout=config.dropout if config.layers > 1 else 0.0,
        )
        self.head = nn.Linear(config.hidden, N_STATES)

    def initial_state(self, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
        shape = (self.config.layers, batch, self.config.hidden)
        return torch.zeros(shape), torch.zeros(shape)

    def forward(
        self,
        prev_states: torch.Tensor,  # (B, L) int64, START_STATE before the first row
        row_features: torch.Tensor,  # (B, L, N_ROW_FEATURES)
        mel: torch.Tensor,  # (B, L, 229) normalised log-mel at each row
        h0: torch.Tensor,  # (layers, B, hidden)
        c0: torch.Tensor,  # (layers, B, hidden)
    ) -> dict[str, torch.Tensor]:
        x = torch.cat(
            [self.state_embed(prev_states), torch.relu(self.audio_proj(mel)), row_features], -1
        )
        out, (h, c) = self.lstm(x, (h0, c0))  # (B, L, hidden)
        return {"logits": self.head(out), "h": h, "c": c}  # logits (B, L, 256)
