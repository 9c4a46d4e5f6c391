"""Torch reference evaluation of the KJV masked-diffusion model (independent of the C code).

    /usr/bin/python3 train/eval_kjv.py [--ckpt train/work/ckpt.pt] [--out train/eval.json]

1. Validation masked-token cross-entropy (nats / masked token) at fixed mask
   ratios, against unigram baselines (entropy of the train unigram distribution,
   and the cross-entropy of the val tokens under it).
2. Generation with LLaDA's reference `generate` (low_confidence remasking,
   temperature 0, blocks left to right, k_i tokens per step) for 20 fixed
   prompts at gen_length 64, steps 64, block 32; reports the share of generated
   words that occur in the corpus and the share of adjacent generated word pairs
   that occur adjacently in the corpus, vs uniformly random tokens and vs words
   drawn i.i.d. by corpus frequency.
"""
import argparse
import json
import math
import os
import random
import re
import sys
import time
from collections import Counter

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from bpe import Tokenizer  # noqa: E402
from corpus import split_chapters  # noqa: E402
from export_gguf import load_model  # noqa: E402

HAND_PROMPTS = [
    "In the beginning",
    "And the LORD said unto Moses,",
    "The LORD is my shepherd;",
    "Blessed are the",
    "And it came to pass, when the king",
    "For God so loved the world,",
    "Then said Jesus unto his disciples,",
    "And the children of Israel",
    "My son, hear the instruction of thy father,",
    "And he went up into the mountain",
]


# ---------------------------------------------------------------- LLaDA reference generate

def num_transfer_tokens(mask_index, steps):
    mask_num = mask_index.sum(dim=1, keepdim=True)
    base = mask_num // steps
    rem = mask_num % steps
    out = torch.zeros(mask_num.size(0), steps, dtype=torch.int64) + base
    for i in range(mask_num.size(0)):
        out[i, :rem[i]] += 1
    return out


@torch.no_grad()
def generate(model, prompt, mask_id, steps=64, gen_length=64, block_length=32):
    """LLaDA generate.py at temperature 0, cfg 0, remasking=low_confidence."""
    P = prompt.shape[1]
    x = torch.full((prompt.shape[0], P + gen_length), mask_id, dtype=torch.long)
    x[:, :P] = prompt
    assert gen_length % block_length == 0
    num_blocks = gen_length // block_length
    assert steps % num_blocks == 0
    spb = steps // num_blocks
    for nb in range(num_blocks):
        b0, b1 = P + nb * block_length, P + (nb + 1) * block_length
        ntt = num_transfer_tokens(x[:, b0:b1] == mask_id, spb)
        for i in range(spb):
            mask_index = x == mask_id
            logits = model(x)
            x0 = logits.argmax(dim=-1)
            p = torch.softmax(logits.double(), dim=-1)
            x0_p = torch.gather(p, -1, x0.unsqueeze(-1)).squeeze(-1)
            x0_p[:, b1:] = -np.inf
            x0 = torch.where(mask_index, x0, x)
            conf = torch.where(mask_index, x0_p, torch.tensor(-np.inf, dtype=x0_p.dtype))
            transfer = torch.zeros_like(x0, dtype=torch.bool)
            for j in range(conf.shape[0]):
                k = int(ntt[j, i])
                if k:
                    _, idx = torch.topk(conf[j], k=k)
                    transfer[j, idx] = True
            x[transfer] = x0[transfer]
    return x


# ---------------------------------------------------------------- word measures

WORD_STRIP = re.compile(r"^[^A-Za-z0-9]+|[^A-Za-z0-9]+$")


def norm_words(text):
    out = []
    for w in text.split():
        w = WORD_STRIP.sub("", w).lower()
        if w:
            out.append(w)
    return out


def word_scores(words, vocab, pairs):
    nw = len(words)
    np_ = max(0, nw - 1)
    wi = sum(w in vocab for w in words)
    pi = sum((a, b) in pairs for a, b in zip(words, words[1:]))
    return wi, nw, pi, np_, len(set(zip(words, words[1:])))


def agg(rows):
    wi = sum(r[0] for r in rows)
    nw = sum(r[1] for r in rows)
    pi = sum(r[2] for r in rows)
    np_ = sum(r[3] for r in rows)
    dp = sum(r[4] for r in rows)
    return {"corpus_words": round(wi / max(nw, 1), 4), "corpus_word_pairs": round(pi / max(np_, 1), 4),
            "distinct_pairs_within_sample": round(dp / max(np_, 1), 4),
            "n_words": nw, "n_pairs": np_}


@torch.no_grad()
def write_reference(model, tok, path):
    """Test vectors for the C engine, computed with the weights rounded to F16 as
    in the GGUF (the torch model keeps the rotate-half q/k layout, which is the
    same function as the GGUF's permuted rows with interleaved RoPE)."""
    import copy
    m16 = copy.deepcopy(model)
    for n, p in m16.named_parameters():
        if p.dim() == 2:
            p.data = p.data.half().float()
    cases = []
    for pr in ["In the beginning", "And the LORD said unto Moses,"]:
        ids = tok.encode(pr)
        x = torch.tensor([ids + [tok.mask_id] * 64])
        logits = m16(x)[0]
        top = torch.topk(logits, 5, dim=-1)
        first = [{"pos": j, "top5_ids": top.indices[j].tolist(),
                  "top5_logits": [round(v, 4) for v in top.values[j].tolist()]}
                 for j in [0, len(ids) - 1, len(ids), len(ids) + 1, len(ids) + 63]]
        out = generate(m16, torch.tensor([ids]), tok.mask_id, 64, 64, 32)[0].tolist()
        cases.append({"prompt": pr, "prompt_ids": ids, "first_forward_canvas": "prompt + 64 x [MASK]",
                      "first_forward_top5": first,
                      "generate": {"gen_length": 64, "steps": 64, "block_length": 32, "temperature": 0,
                                   "remasking": "low_confidence"},
                      "output_ids": out[len(ids):], "output_text": tok.decode(out[len(ids):], skip_special=False)})
    ref = {"model": "models/dllm-kjv.gguf (F16)", "note": "torch reference with F16-rounded weights, float32 math",
           "special_ids": {"bos": tok.bos_id, "eos": tok.eos_id, "mask": tok.mask_id, "pad": tok.pad_id,
                           "eot": tok.id["<|eot_id|>"]},
           "tokenize": {s: tok.encode(s) for s in ["In the beginning God created the heaven and the earth.",
                                                   "And God said, Let there be light: and there was light.\n\nAnd",
                                                   "Jesus' disciples said, It's 12 o'clock!  Really?"]},
           "cases": cases}
    with open(path, "w") as f:
        json.dump(ref, f, indent=1)
        f.write("\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ckpt", default=os.path.join(HERE, "work", "ckpt.pt"))
    ap.add_argument("--out", default=os.path.join(HERE, "eval.json"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--n_prompts", type=int, default=20)
    ap.add_argument("--steps", type=int, default=64)
    ap.add_argument("--gen_length", type=int, default=64)
    ap.add_argument("--block_length", type=int, default=32)
    ap.add_argument("--ref_out", default=os.path.join(ROOT, "models", "dllm-kjv.ref.json"),
                    help="test vectors for the C engine ('' to skip)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    t0 = time.time()
    tok = Tokenizer.load(os.path.join(ROOT, "models", "dllm-kjv.tokenizer.json"))
    model, cfg, step = load_model(a.ckpt)
    tr, va = split_chapters()
    res = {"ckpt_step": step, "config": cfg.to_dict()}

    # ---- 1. masked-token loss vs unigram
    train_ids = [i for d in tr for i in tok.encode(d)]
    val_ids = tok.encode("\n\n".join(va))
    cnt = np.bincount(train_ids, minlength=len(tok.tokens)).astype(np.float64)
    pu = cnt / cnt.sum()
    H = float(-(pu[pu > 0] * np.log(pu[pu > 0])).sum())
    pu_s = (cnt + 0.5) / (cnt.sum() + 0.5 * len(cnt))
    xent = float(-np.log(pu_s[val_ids]).mean())
    L = cfg.max_seq
    v = torch.tensor(val_ids)
    nwin = v.numel() // L
    wins = v[:nwin * L].view(nwin, L)
    losses = {}
    g = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for r in [0.15, 0.3, 0.5, 0.7, 0.9, 1.0]:
            ce_sum, n = 0.0, 0
            for i in range(0, nwin, 32):
                ids = wins[i:i + 32]
                m = torch.rand(ids.shape, generator=g) < r
                x = torch.where(m, torch.full_like(ids, tok.mask_id), ids)
                logits = model(x)
                ce_sum += float(torch.nn.functional.cross_entropy(logits[m], ids[m], reduction="sum"))
                n += int(m.sum())
            losses[str(r)] = round(ce_sum / n, 4)
    res["val_masked_ce_nats"] = losses
    res["unigram_entropy_nats"] = round(H, 4)
    res["unigram_val_xent_nats"] = round(xent, 4)
    res["val_windows"] = nwin
    print("val masked CE by mask ratio:", losses, "unigram entropy %.3f, val xent %.3f" % (H, xent), flush=True)

    # ---- 2. generation
    all_text = "\n".join(tr + va)
    cw = norm_words(all_text)
    vocab = set(cw)
    pairs = set(zip(cw, cw[1:]))
    rng = random.Random(0)
    val_verses = [vs for ch in va for vs in ch.split("\n") if len(vs.split()) >= 10]
    picks = rng.sample(val_verses, a.n_prompts - len(HAND_PROMPTS))
    prompts = HAND_PROMPTS + [" ".join(vs.split()[:6]) for vs in picks]
    stop = {tok.eos_id, tok.id["<|eot_id|>"]}
    gens, rows = [], []
    for pr in prompts:
        ids = torch.tensor([tok.encode(pr)])
        out = generate(model, ids, tok.mask_id, a.steps, a.gen_length, a.block_length)[0, ids.shape[1]:].tolist()
        cut = next((j for j, t in enumerate(out) if t in stop), len(out))
        text = tok.decode(out[:cut])
        gens.append({"prompt": pr, "completion": text, "n_tokens": cut,
                     "masks_left": int(sum(t == tok.mask_id for t in out))})
        rows.append(word_scores(norm_words(text), vocab, pairs))
        print(repr(pr), "->", repr(text[:200]), flush=True)
    res["generation_settings"] = {"gen_length": a.gen_length, "steps": a.steps, "block_length": a.block_length,
                                  "temperature": 0, "remasking": "low_confidence"}
    res["generation"] = agg(rows)

    # ---- baselines
    nrng = np.random.default_rng(0)
    rrows = []
    for _ in prompts:
        ids = nrng.integers(0, tok.n_normal, a.gen_length)
        rrows.append(word_scores(norm_words(tok.decode(ids.tolist())), vocab, pairs))
    res["baseline_uniform_tokens"] = agg(rrows)
    wc = Counter(cw)
    wl = list(wc)
    wp = np.array([wc[w] for w in wl], dtype=np.float64)
    wp /= wp.sum()
    frows = []
    for _ in rows:
        n = 48  # about the number of words in 64 tokens of KJV text
        ws = [wl[i] for i in nrng.choice(len(wl), n, p=wp)]
        frows.append(word_scores(ws, vocab, pairs))
    res["baseline_unigram_words"] = agg(frows)
    res["targets"] = {"corpus_words": 0.85, "corpus_word_pairs": 0.70}
    res["samples"] = gens

    # a few chat-template samples (not scored)
    chat = []
    for u in ["In the beginning God created the heaven and the earth.", "The LORD is my shepherd; I shall not want."]:
        s = ("<|startoftext|><|start_header_id|>user<|end_header_id|>\n\n" + u +
             "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n")
        ids = torch.tensor([tok.encode(s)])
        out = generate(model, ids, tok.mask_id, a.steps, a.gen_length, a.block_length)[0, ids.shape[1]:].tolist()
        cut = next((j for j, t in enumerate(out) if t in stop), len(out))
        chat.append({"user": u, "assistant": tok.decode(out[:cut])})
    res["chat_samples"] = chat
    if a.ref_out:
        write_reference(model, tok, a.ref_out)
    res["eval_seconds"] = round(time.time() - t0, 1)
    print(json.dumps({k: res[k] for k in ["generation", "baseline_uniform_tokens", "baseline_unigram_words"]}))
    with open(a.out, "w") as f:
        json.dump(res, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
