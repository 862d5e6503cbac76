"""Network properties: shapes, one conv stack for all difficulties, chunking, KLab key map."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from genelive.onsets.baselines import DDCOnsetNet
from genelive.onsets.config import PRESETS, DDCConfig
from genelive.onsets.klab import klab_to_ours
from genelive.onsets.nets import OnsetNet, chunked_bilstm
from tests.helpers import TINY

LEVELS = torch.tensor([10.0, 20.0, 30.0, 40.0, 50.0])


def test_paper_config_has_klab_size():
    net = OnsetNet(PRESETS["paper"])
    assert sum(p.numel() for p in net.parameters()) == 8_015_809
    assert PRESETS["paper"].features == 768


@pytest.mark.parametrize("n_frames", [1, 127, 128, 300])
def test_all_difficulties_in_one_batch_equal_separate_runs(n_frames):
    net = OnsetNet(TINY).eval()
    log_mel = torch.randn(2, n_frames, 229)
    beats = (torch.rand(2, n_frames) < 0.1).float()
    with torch.no_grad():
        batched = net(log_mel, beats, LEVELS)["onset_probs"]  # (2, 5, T)
        assert batched.shape == (2, 5, n_frames)
        for i, level in enumerate(LEVELS):
            single = net(log_mel, beats, level[None])["onset_probs"][:, 0]
            torch.testing.assert_close(batched[:, i], single, atol=1e-6, rtol=0)


def test_difficulty_and_beats_change_the_output():
    net = OnsetNet(TINY).eval()
    log_mel, beats = torch.randn(1, 200, 229), torch.zeros(1, 200)
    with torch.no_grad():
        probs = net(log_mel, beats, LEVELS)["onset_probs"][0]
        assert (probs[0] - probs[4]).abs().max() > 1e-4
        beats[0, ::16] = 1
        assert (net(log_mel, beats, LEVELS)["onset_probs"][0] - probs).abs().max() > 1e-4


def test_conv_stack_is_causal_only_within_its_pooling_blocks():
    """Changing late frames must not change the features of early frames beyond the 4 s branch."""
    net = OnsetNet(TINY).eval()
    x = torch.randn(1, 512, 229)
    y = x.clone()
    y[:, 384:] += 1.0
    with torch.no_grad():
        a, b = net.encode(x), net.encode(y)
    assert torch.equal(a[:, :128], b[:, :128])  # three 128-frame blocks away: untouched
    assert not torch.equal(a[:, 384:], b[:, 384:])


def test_chunked_lstm_equals_full_pass_on_short_input_and_differs_on_long():
    lstm = torch.nn.LSTM(6, 5, num_layers=2, bidirectional=True, batch_first=True).eval()
    with torch.no_grad():
        short = torch.randn(3, 40, 6)
        torch.testing.assert_close(chunked_bilstm(lstm, short, 64), lstm(short)[0])
        long = torch.randn(3, 150, 6)
        chunked = chunked_bilstm(lstm, long, 64)
        full = lstm(long)[0]
        assert chunked.shape == full.shape
        # A 2-layer BiLSTM carries state across chunk borders differently (KLab's behaviour).
        assert (chunked - full).abs().max() > 1e-4


def test_klab_chunking_is_used_only_in_eval_mode():
    cfg = dataclasses.replace(TINY, lstm_chunk_frames=64)
    net = OnsetNet(cfg).eval()
    plain = OnsetNet(TINY).eval()
    plain.load_state_dict(net.state_dict())
    x, beats = torch.randn(1, 200, 229), torch.zeros(1, 200)
    with torch.no_grad():
        assert (
            net(x, beats, LEVELS)["onset_probs"] - plain(x, beats, LEVELS)["onset_probs"]
        ).abs().max() > 1e-5


def test_klab_key_map_covers_every_parameter():
    ours = set(OnsetNet(PRESETS["paper"]).state_dict())
    klab_conv = {0: "0", 1: "3", 2: "8", 3: "13"}
    klab_bn = {0: "1", 1: "4", 2: "9", 3: "14"}
    klab_keys = []
    for b in range(4):
        for j in range(4):
            klab_keys += [f"onset_stack.cnns.{b}.{klab_conv[j]}.{p}" for p in ("weight", "bias")]
            klab_keys += [
                f"onset_stack.cnns.{b}.{klab_bn[j]}.{p}"
                for p in ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")
            ]
    for layer in ("l0", "l0_reverse", "l1", "l1_reverse"):
        klab_keys += [
            f"onset_sequence.rnn.{w}_{layer}"
            for w in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
        ]
    klab_keys += ["onset_linear.0.weight", "onset_linear.0.bias"]
    assert {klab_to_ours(k) for k in klab_keys} == ours


def test_ddc_net_sees_exactly_fifteen_frames_of_context():
    cfg = DDCConfig()
    net = DDCOnsetNet(cfg).eval()
    x = torch.randn(1, 60, 3, cfg.n_mels)
    with torch.no_grad():
        base = net.encode(x)
        y = x.clone()
        y[:, 30] += 5.0
        changed = (net.encode(y) - base).abs().amax(dim=(0, 2)) > 0
    assert changed.nonzero().flatten().tolist() == list(range(23, 38))
    with torch.no_grad():
        out = net(x, torch.zeros(1, 60), LEVELS)["onset_probs"]
    assert out.shape == (1, 5, 60)
