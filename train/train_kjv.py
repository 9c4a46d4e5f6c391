"""Train dllm's small default masked-diffusion model (LLaDA objective) on the KJV.

    /usr/bin/python3 train/train_kjv.py --minutes 90 --steps 6000

Resumes automatically from train/work/ckpt.pt. Logs to train/train_log.csv.
"""
import argparse
import csv
import math
import os
import random
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from corpus import split_chapters  # noqa: E402
from bpe import Tokenizer, train_bpe, SPECIALS  # noqa: E402
from model import Config, LLaDA  # noqa: E402

WORK = os.path.join(HERE, "work")
TOK_PATH = os.path.join(ROOT, "models", "dllm-kjv.tokenizer.json")
CKPT = os.path.join(WORK, "ckpt.pt")
LOG = os.path.join(HERE, "train_log.csv")
EPS = 1e-3


def get_tokenizer(vocab_size=3072):
    if not os.path.exists(TOK_PATH):
        tr, _ = split_chapters()
        vocab, merges = train_bpe(tr, vocab_size - len(SPECIALS))
        tok = Tokenizer(vocab, merges)
        os.makedirs(os.path.dirname(TOK_PATH), exist_ok=True)
        tok.save(TOK_PATH)
    return Tokenizer.load(TOK_PATH)


class Data:
    """Token streams (chapters: verses joined by "\\n", chapters by "\\n\\n")."""

    def __init__(self, tok):
        self.tok = tok
        tr, va = split_chapters()
        self.train_verses = [[tok.encode(v) for v in ch.split("\n")] for ch in tr]
        self.train = self._stream(self.train_verses)
        self.val = self._stream([[tok.encode(v) for v in ch.split("\n")] for ch in va])
        # the verse-wise stream equals the tokenization of the whole text
        assert self.train[:5000] == tok.encode("\n\n".join(tr))[:5000]
        self.train_t = torch.tensor(self.train, dtype=torch.long)
        self.val_t = torch.tensor(self.val, dtype=torch.long)
        self.chat_user = tok.encode("<|startoftext|><|start_header_id|>user<|end_header_id|>\n\n")
        self.chat_asst = tok.encode("<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n")
        self.eot = tok.id["<|eot_id|>"]

    @staticmethod
    def _stream(chapters):
        out = []
        for i, ch in enumerate(chapters):
            if i:
                out += [10, 10]
            for j, v in enumerate(ch):
                if j:
                    out.append(10)
                out += v
        return out

    def batch(self, B, L, g, p_prefix=0.3, p_chat=0.1):
        """Returns ids [B, L] and prompt_len [B] (positions < prompt_len never masked)."""
        n = self.train_t.numel()
        starts = torch.randint(0, n - L, (B,), generator=g)
        ids = torch.stack([self.train_t[s:s + L] for s in starts.tolist()])
        plen = torch.zeros(B, dtype=torch.long)
        kind = torch.rand(B, generator=g)
        for b in range(B):
            if kind[b] < p_chat:
                r = self._chat_example(L, g)
                if r is not None:
                    ids[b], plen[b] = r
            elif kind[b] < p_chat + p_prefix:
                plen[b] = int(torch.randint(1, L // 2 + 1, (1,), generator=g))
        return ids, plen

    def _chat_example(self, L, g):
        """<bos><sh>user<eh>\\n\\n VERSE <eot><sh>assistant<eh>\\n\\n NEXT VERSES <eot> <eos>..."""
        ch = self.train_verses[int(torch.randint(0, len(self.train_verses), (1,), generator=g))]
        if len(ch) < 2:
            return None
        i = int(torch.randint(0, len(ch) - 1, (1,), generator=g))
        prompt = self.chat_user + ch[i] + self.chat_asst
        ans = list(ch[i + 1])
        k = 1 + int(torch.randint(0, 3, (1,), generator=g))
        for v in ch[i + 2:i + 1 + k]:
            if len(prompt) + len(ans) + 1 + len(v) + 1 > L:
                break
            ans += [10] + v
        seq = prompt + ans + [self.eot]
        if len(seq) > L:
            return None
        seq += [self.tok.eos_id] * (L - len(seq))
        return torch.tensor(seq, dtype=torch.long), len(prompt)


def diffusion_loss(model, ids, plen, mask_id, g=None, t=None):
    """LLaDA loss: sum_{masked} CE / p_mask, divided by B*L. Returns (loss, ce_sum, n_masked)."""
    B, L = ids.shape
    if t is None:
        t = torch.rand(B, generator=g)
    p = (1 - EPS) * t + EPS
    pos = torch.arange(L).unsqueeze(0)
    maskable = pos >= plen.unsqueeze(1)
    m = (torch.rand(B, L, generator=g) < p.unsqueeze(1)) & maskable
    x = torch.where(m, torch.full_like(ids, mask_id), ids)
    logits = model.head(model.hidden(x)[m])  # head only where masked
    ce = F.cross_entropy(logits, ids[m], reduction="none")
    w = (1.0 / p).unsqueeze(1).expand(B, L)[m]
    loss = (ce * w).sum() / (B * L)
    return loss, ce.sum().item(), int(m.sum())


@torch.no_grad()
def validate(model, data, mask_id, L=128, nwin=96):
    """Deterministic: nwin windows of the val stream, stratified t, fixed mask seed.
    Returns (LLaDA-weighted loss per token, plain CE per masked token)."""
    model.eval()
    v = data.val_t
    stride = max(1, (v.numel() - L) // nwin)
    ids = torch.stack([v[i * stride:i * stride + L] for i in range(nwin)])
    t = (torch.arange(nwin, dtype=torch.float32) + 0.5) / nwin
    g = torch.Generator().manual_seed(1234)
    tot, ce, nm = 0.0, 0.0, 0
    for i in range(0, nwin, 32):
        l, c, n = diffusion_loss(model, ids[i:i + 32], torch.zeros(min(32, nwin - i), dtype=torch.long),
                                 mask_id, g=g, t=t[i:i + 32])
        tot += l.item() * ids[i:i + 32].shape[0]
        ce += c
        nm += n
    model.train()
    return tot / nwin, ce / max(nm, 1)


def lr_at(step, a, train_s):
    """Linear warmup over a.warmup steps, then cosine to lr_min over the *time*
    budget (the CPU is shared, so steps/s varies): progress = train_s / budget."""
    if step < a.warmup:
        return a.lr * (step + 1) / a.warmup
    pr = min(1.0, max(train_s / (a.minutes * 60), step / a.steps))
    return a.lr_min + 0.5 * (a.lr - a.lr_min) * (1 + math.cos(math.pi * pr))


def save_ckpt(model, opt, step, g, cfg, args, train_s):
    tmp = CKPT + ".tmp"
    torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "step": step, "train_s": train_s,
                "gen": g.get_state(), "torch_rng": torch.get_rng_state(),
                "np_rng": np.random.get_state(), "py_rng": random.getstate(),
                "config": cfg.to_dict(), "args": vars(args)}, tmp)
    os.replace(tmp, CKPT)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=90.0,
                    help="total training-time budget (summed over resumed runs); the lr schedule follows it")
    ap.add_argument("--steps", type=int, default=100000, help="max steps (also ends the schedule)")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--d_model", type=int, default=256)
    ap.add_argument("--layers", type=int, default=6)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--ffn", type=int, default=704)
    ap.add_argument("--lr", type=float, default=1.5e-3)
    ap.add_argument("--lr_min", type=float, default=1.5e-4)
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--wd", type=float, default=0.1)
    ap.add_argument("--ckpt_minutes", type=float, default=4.0)
    ap.add_argument("--val_every", type=int, default=200)
    ap.add_argument("--log_every", type=int, default=25)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--stop_at", type=float, default=0, help="also stop at this unix time (hard wall deadline)")
    ap.add_argument("--trial", action="store_true", help="speed trial: no ckpt, no log")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    random.seed(args.seed)
    os.makedirs(WORK, exist_ok=True)
    t_start = time.time()

    tok = get_tokenizer()
    data = Data(tok)
    print("vocab %d, train tokens %d, val tokens %d" % (len(tok.tokens), len(data.train), len(data.val)), flush=True)

    cfg = Config(vocab_size=len(tok.tokens), d_model=args.d_model, n_layers=args.layers,
                 n_heads=args.heads, ffn=args.ffn, max_seq=args.seq)
    model = LLaDA(cfg)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.wd},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.95), eps=1e-8)
    g = torch.Generator().manual_seed(args.seed + 1)
    step = 0
    train_s = 0.0
    if os.path.exists(CKPT) and not args.trial:
        ck = torch.load(CKPT)
        cfg = Config(**ck["config"])
        model = LLaDA(cfg)
        model.load_state_dict(ck["model"])
        decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
        no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
        opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.wd},
                                 {"params": no_decay, "weight_decay": 0.0}],
                                lr=args.lr, betas=(0.9, 0.95), eps=1e-8)
        opt.load_state_dict(ck["opt"])
        step = ck["step"]
        train_s = ck.get("train_s", 0.0)
        g.set_state(ck["gen"])
        torch.set_rng_state(ck["torch_rng"])
        np.random.set_state(ck["np_rng"])
        random.setstate(ck["py_rng"])
        print("resumed at step", step, flush=True)
    nparams = sum(p.numel() for p in model.parameters())
    print("config", cfg.to_dict(), "params %.2fM" % (nparams / 1e6), flush=True)

    new_log = not os.path.exists(LOG)
    logf = None
    if not args.trial:
        logf = open(LOG, "a", newline="")
        lw = csv.writer(logf)
        if new_log:
            lw.writerow(["step", "tokens", "train_s", "lr", "train_loss", "val_loss", "val_ce_masked"])

    model.train()
    last_ckpt = time.time()
    acc, nacc = 0.0, 0
    t_loop = time.time()
    steps_this_run = 0
    budget = args.minutes * 60
    while step < args.steps and train_s < budget and not (args.stop_at and time.time() > args.stop_at):
        t_step = time.time()
        lr = lr_at(step, args, train_s)
        for gr in opt.param_groups:
            gr["lr"] = lr
        ids, plen = data.batch(args.batch, args.seq, g)
        loss, _, _ = diffusion_loss(model, ids, plen, tok.mask_id, g=g)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        train_s += time.time() - t_step
        step += 1
        steps_this_run += 1
        acc += loss.item()
        nacc += 1
        if args.trial and steps_this_run % 5 == 0:
            el = time.time() - t_loop
            print("trial step %d loss %.3f  %.2f s/step  %.0f tok/s" % (
                step, loss.item(), el / steps_this_run, steps_this_run * args.batch * args.seq / el), flush=True)
        if not args.trial and (step % args.log_every == 0 or step % args.val_every == 0):
            vl, vce = ("", "")
            if step % args.val_every == 0:
                vl, vce = validate(model, data, tok.mask_id)
                vl, vce = round(vl, 4), round(vce, 4)
            wall = train_s
            lw.writerow([step, step * args.batch * args.seq, round(wall, 1), "%.3g" % lr,
                         round(acc / nacc, 4), vl, vce])
            logf.flush()
            print("step %d lr %.2e loss %.4f val %s (ce/masked %s) %.2f s/step" % (
                step, lr, acc / nacc, vl, vce, (time.time() - t_loop) / steps_this_run), flush=True)
            acc, nacc = 0.0, 0
        if not args.trial and time.time() - last_ckpt > args.ckpt_minutes * 60:
            save_ckpt(model, opt, step, g, cfg, args, train_s)
            last_ckpt = time.time()
    if not args.trial:
        vl, vce = validate(model, data, tok.mask_id)
        wall = train_s
        lw.writerow([step, step * args.batch * args.seq, round(wall, 1), "%.3g" % lr_at(step, args, train_s),
                     round(acc / max(nacc, 1), 4) if nacc else "", round(vl, 4), round(vce, 4)])
        logf.close()
        save_ckpt(model, opt, step, g, cfg, args, train_s)
        print("done: step %d val %.4f ce/masked %.4f" % (step, vl, vce), flush=True)


if __name__ == "__main__":
    main()
