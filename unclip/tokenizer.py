"""The real CLIP tokenizer, built offline from the BPE merges in the open-clip-torch wheel.

CLIP's vocabulary is fully determined by its merge list: 256 byte symbols, the same with the
end-of-word marker `</w>`, one token per merge (48,894 of them) and the two special tokens, 49,408
in all. Karlo pads with `!` (id 0), not with `<|endoftext|>`.
"""

from __future__ import annotations

import gzip
import importlib.util
import json
from functools import lru_cache
from pathlib import Path

from transformers import CLIPTokenizer

CLIP_VOCAB_SIZE = 49_408
CLIP_MAX_TOKENS = 77
BPE_FILE = "bpe_simple_vocab_16e6.txt.gz"
_MERGES = CLIP_VOCAB_SIZE - 2 * 256 - 2


class TokenizerFilesMissing(ValueError):
    pass


def open_clip_bpe_path() -> Path:
    """The merges file inside the installed open-clip-torch package, found without importing it
    (it would import torchvision, which this project does not install)."""
    spec = importlib.util.find_spec("open_clip")
    if spec is None or not spec.submodule_search_locations:
        raise TokenizerFilesMissing(
            "open-clip-torch is not installed; it ships the CLIP BPE merges. "
            "Install it with `pip install --no-deps open-clip-torch==3.3.0` (make does this)."
        )
    path = Path(next(iter(spec.submodule_search_locations))) / BPE_FILE
    if not path.is_file():
        raise TokenizerFilesMissing(f"{path} is missing from the open-clip-torch install")
    return path


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2/CLIP's reversible byte → printable character table."""
    keep = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), 256)]
    chars, extra = list(keep), 0
    for b in range(256):
        if b not in keep:
            keep.append(b)
            chars.append(256 + extra)
            extra += 1
    return dict(zip(keep, map(chr, chars), strict=True))


@lru_cache(maxsize=1)
def clip_vocab_and_merges(bpe_path: Path | None = None) -> tuple[dict[str, int], list[str]]:
    with gzip.open(bpe_path or open_clip_bpe_path()) as f:
        lines = f.read().decode("utf-8").split("\n")
    merges = lines[1 : _MERGES + 1]  # line 0 is a version header
    symbols = list(_bytes_to_unicode().values())
    tokens = symbols + [s + "</w>" for s in symbols] + ["".join(m.split()) for m in merges]
    tokens += ["<|startoftext|>", "<|endoftext|>"]
    assert len(tokens) == CLIP_VOCAB_SIZE, len(tokens)
    return {t: i for i, t in enumerate(tokens)}, merges


def write_clip_tokenizer(folder: Path, pad_token: str = "!") -> CLIPTokenizer:
    """Write a Hugging Face CLIP tokenizer folder (vocab.json, merges.txt, configs) and load it."""
    vocab, merges = clip_vocab_and_merges()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False))
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n")
    tokenizer = CLIPTokenizer(
        vocab=str(folder / "vocab.json"),
        merges=str(folder / "merges.txt"),
        pad_token=pad_token,
        model_max_length=CLIP_MAX_TOKENS,
    )
    tokenizer.save_pretrained(folder)
    return CLIPTokenizer.from_pretrained(folder)
