"""Independent float64 check of dllm's block caches on a LLaDA GGUF.

Reads the canvases bench_sched --dump wrote (per cache mode: none, prefix,
dual; greedy low_confidence), reruns each prompt with PyTorch in float64
following Fast-dLLM's llada/generate.py (generate, generate_with_prefix_cache,
generate_with_dual_cache: a full forward at each block start, then the
block (dual) or everything from the block on (prefix) on cached keys and
values), written here from that code's definition, and prints for each mode
how many answers are token-identical to the reference of the same mode, and
how the reference's own cached runs agree with its uncached run. With
--quality (the default model; needs Debian's bible-kjv for the corpus) it
also scores dllm's answers of each mode with train/eval_kjv.py's word
measures: words and adjacent word pairs found in the corpus, and distinct
pairs within a sample (repetition).
usage: /usr/bin/python3 tests/bench/cache_ref.py MODEL.gguf DUMP [--quality]"""
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools"))
from gguf_write import read_gguf  # noqa: E402


def load(path):
    kv, ts = read_gguf(path)
    arch = kv["general.architecture"]
    assert arch == "llada", "cache_ref.py reads LLaDA files only"

    def t(name):
        ne, typ, raw = ts[name]
        dt = {0: np.float32, 1: np.float16}[typ]
        a = np.frombuffer(raw, dtype=dt).astype(np.float64).reshape(list(reversed(ne)))
        return torch.from_numpy(a.copy())

    L = kv[arch + ".block_count"]
    m = {"L": L, "H": kv[arch + ".attention.head_count"], "eps": kv[arch + ".attention.layer_norm_rms_epsilon"],
         "theta": kv[arch + ".rope.freq_base"], "mask": kv["tokenizer.ggml.mask_token_id"],
         "emb": t("token_embd.weight"), "norm": t("output_norm.weight"), "out": t("output.weight"), "blk": []}
    for i in range(L):
        p = "blk.%d." % i
        m["blk"].append({k: t(p + k + ".weight") for k in
                         ("attn_norm", "attn_q", "attn_k", "attn_v", "attn_output", "ffn_norm", "ffn_gate",
                          "ffn_up", "ffn_down")})
    return m


def rms(x, w, eps):
    return x / torch.sqrt((x * x).mean(-1, keepdim=True) + eps) * w


def rope(x, pos, theta):
    # llama.cpp's LLaDA files store Q/K rows permuted so pairs (2i, 2i+1) rotate together
    n, H, hd = x.shape
    i = torch.arange(hd // 2, dtype=torch.float64)
    ang = pos[:, None].double() * theta ** (-2.0 * i / hd)
    c, s = torch.cos(ang)[:, None, :], torch.sin(ang)[:, None, :]
    a, b = x[..., 0::2], x[..., 1::2]
    out = torch.empty_like(x)
    out[..., 0::2] = a * c - b * s
    out[..., 1::2] = a * s + b * c
    return out


def forward(m, ids, start=0, cache=None):
    """Logits of positions [start, start + len(ids)); with cache (per layer
    K, V of the whole canvas) the window's fresh K/V overwrite their slots
    and its queries attend over every cached position. Returns logits and
    the per-layer K, V of the window."""
    n, H = len(ids), m["H"]
    x = m["emb"][torch.tensor(ids)]
    d = x.shape[1]
    hd = d // H
    pos = torch.arange(start, start + n)
    fresh = []
    for li, b in enumerate(m["blk"]):
        h = rms(x, b["attn_norm"], m["eps"])
        q = rope((h @ b["attn_q"].T).view(n, H, hd), pos, m["theta"])
        k = rope((h @ b["attn_k"].T).view(n, H, hd), pos, m["theta"])
        v = (h @ b["attn_v"].T).view(n, H, hd)
        fresh.append((k, v))
        if cache is not None:
            K, V = cache[li]
            K[start:start + n] = k
            V[start:start + n] = v
            k, v = K, V
        att = torch.softmax(torch.einsum("qhd,khd->hqk", q, k) / np.sqrt(hd), dim=-1)
        o = torch.einsum("hqk,khd->qhd", att, v).reshape(n, d)
        x = x + o @ b["attn_output"].T
        h = rms(x, b["ffn_norm"], m["eps"])
        x = x + (torch.nn.functional.silu(h @ b["ffn_gate"].T) * (h @ b["ffn_up"].T)) @ b["ffn_down"].T
    return rms(x, m["norm"], m["eps"]) @ m["out"].T, fresh


def n_transfer(M, S):
    return [M // S + (1 if i < M % S else 0) for i in range(S)]


def commit(x, logits, lo, hi, k, mask_id, start):
    """LLaDA low_confidence, greedy: among masked positions in [lo, hi) the k
    with the highest float64 softmax probability of their argmax token."""
    p = torch.softmax(logits, dim=-1)
    conf, tok = p.max(dim=-1)
    cand = [(float(conf[j - start]), -j, j) for j in range(lo, hi) if x[j] == mask_id]
    cand.sort(reverse=True)
    for _, _, j in cand[:k]:
        x[j] = int(tok[j - start])


def generate(m, prompt, gen, steps, block, mode):
    mask = m["mask"]
    x = list(prompt) + [mask] * gen
    P, N = len(prompt), len(prompt) + gen
    nb = gen // block
    spb = steps // nb
    for bi in range(nb):
        lo, hi = P + bi * block, P + (bi + 1) * block
        ks = n_transfer(block, spb)
        cache = None
        for i in range(spb):
            if mode == "none" or i == 0:
                logits, kv = forward(m, x)
                if mode != "none":
                    cache = [(k.clone(), v.clone()) for k, v in kv]
                commit(x, logits, lo, hi, ks[i], mask, 0)
            else:
                end = N if mode == "prefix" else hi
                logits, _ = forward(m, x[lo:end], lo, cache)
                commit(x, logits, lo, hi, ks[i], mask, lo)
    return x


def quality(ours):
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
    sys.path.insert(0, os.path.join(root, "train"))
    from bpe import Tokenizer
    from corpus import split_chapters
    from eval_kjv import agg, norm_words, word_scores
    tok = Tokenizer.load(os.path.join(root, "models", "dllm-kjv.tokenizer.json"))
    tr, va = split_chapters()
    cw = norm_words("\n".join(tr + va))
    vocab, pairs = set(cw), set(zip(cw, cw[1:]))
    ends = {tok.eos_id, tok.id.get("<|eot_id|>", -1)}
    print("\n%-7s %14s %18s %30s" % ("cache", "corpus words", "corpus word pairs", "distinct pairs within sample"))
    for mode in ("none", "prefix", "dual"):
        rows = []
        for span0, canvas in ours.get(mode, []):
            ans = []
            for t in canvas[span0:]:
                if t in ends:
                    break
                ans.append(t)
            rows.append(word_scores(norm_words(tok.decode(ans)), vocab, pairs))
        a = agg(rows)
        print("%-7s %13.1f%% %17.1f%% %29.1f%%" % (mode, 100 * a["corpus_words"], 100 * a["corpus_word_pairs"],
                                                   100 * a["distinct_pairs_within_sample"]))


def main():
    model, dump = sys.argv[1], sys.argv[2]
    m = load(model)
    lines = open(dump).read().split("\n")
    head = lines[0].split()
    gen, steps, block, n = int(head[1]), int(head[3]), int(head[5]), int(head[7])
    ours = {}
    for ln in lines[1:]:
        if not ln.strip():
            continue
        f = ln.split()
        ours.setdefault(f[0], []).append((int(f[1]), [int(v) for v in f[3:]]))
    refs = {}
    print("cache_ref: %s, gen %d, steps %d, block %d, %d prompts, float64 PyTorch" % (model, gen, steps, block, n))
    print("%-7s %26s %24s %28s" % ("cache", "dllm = reference (answers)", "same positions", "reference vs its uncached"))
    for mode in ("none", "prefix", "dual"):
        refs[mode] = []
        same = pos_same = pos_all = ref_same = ref_pos = 0
        for span0, canvas in ours.get(mode, []):
            r = generate(m, canvas[:span0], len(canvas) - span0, steps, block, mode)
            refs[mode].append(r)
            a, b = canvas[span0:], r[span0:]
            same += a == b
            pos_all += len(a)
            pos_same += sum(1 for u, w in zip(a, b) if u == w)
            base = refs["none"][len(refs[mode]) - 1][span0:]
            ref_same += b == base
            ref_pos += sum(1 for u, w in zip(b, base) if u == w)
        k = len(refs[mode])
        print("%-7s %26s %23.1f%% %17d of %d, %.1f%%" % (mode, "%d of %d" % (same, k), 100.0 * pos_same / max(pos_all, 1),
                                                        ref_same, k, 100.0 * ref_pos / max(pos_all, 1)))
    if "--quality" in sys.argv:
        quality(ours)


if __name__ == "__main__":
    main()
