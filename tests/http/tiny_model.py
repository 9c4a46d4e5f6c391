"""Builds a tiny random-weight LLaDA GGUF with the KJV tokenizer, for the HTTP
tests when models/dllm-kjv.gguf is not there. The answers are noise; the
tests check the protocol, not the text.

    /usr/bin/python3 tests/http/tiny_model.py OUT.gguf
"""
import os
import sys

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "train"))
from bpe import Tokenizer  # noqa: E402
from export_gguf import export  # noqa: E402
from model import Config, LLaDA  # noqa: E402


def main():
    out = sys.argv[1]
    torch.manual_seed(0)
    tok = Tokenizer.load(os.path.join(ROOT, "models", "dllm-kjv.tokenizer.json"))
    cfg = Config(vocab_size=len(tok.tokens), d_model=64, n_layers=2, n_heads=4, ffn=128, max_seq=128)
    model = LLaDA(cfg).eval()
    export(model, cfg, tok, out, typ="f32", name="dllm-tiny", context_length=512)


if __name__ == "__main__":
    main()
