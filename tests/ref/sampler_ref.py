#!/usr/bin/python3
"""Reference move probabilities of the MDLM/SEDD samplers, written from the
official code's definitions in float64 torch (not from dllm's C), for
tests/unit/test_sched_mdlm.c (its table sampler_ref_cases is this script's
output, pasted):

  SEDD (louaaron/Score-Entropy-Discrete-Diffusion): noise_lib.py
    log-linear sigma = -log1p(-(1 - eps) t), sigma' = (1 - eps)/(1 - (1 - eps) t);
    geometric sigma = smin^(1-t) smax^t, sigma' = sigma (ln smax - ln smin).
  graph_lib.py Absorbing, for a masked position x = MASK with scores s
  (s[MASK] = exp(0) = 1, the model's output being zeroed at the input token):
    Euler: probs = onehot(x) + dt sigma'(t) reverse_rate(x, s), reverse_rate =
      transp_rate(x) * s with the x entry set to minus the sum of the rest;
    analytic: probs = staggered_score(s, D) * transp_transition(x, D),
      D = sigma(t) - sigma(t - dt).
  catsample.py: argmax probs / (1e-10 - log(u + 1e-10)): entries <= 0 never
    win while a positive one exists, so the law is clamp(probs, 0) normalised.
  MDLM (kuleshov-group/mdlm diffusion.py): _ddpm_caching_update
    q = p_x0 (t - s), q[MASK] = s (log-linear); _ddpm_update with
    move chance 1 - e^-sigma otherwise.
Grid: t = 1 - i (1 - t_eps)/N, s = t - (1 - t_eps)/N.

For every case the script also checks that the law of the move target is
s_y / S (the draw dllm takes from the backend), and prints one C initializer
per case: {rule, noise, N, i, t_eps, S, P(move)}.

    /usr/bin/python3 tests/ref/sampler_ref.py
"""
import math

import torch

torch.set_default_dtype(torch.float64)
V = 6          # five tokens and MASK
MASK = V - 1


def sigma(noise, t):
    t = torch.tensor(t)
    if noise == "ll":
        return -torch.log1p(-(1 - 1e-3) * t)
    return 1e-4 ** (1 - t) * 20.0 ** t


def dsigma(noise, t):
    t = torch.tensor(t)
    if noise == "ll":
        return (1 - 1e-3) / (1 - (1 - 1e-3) * t)
    return 1e-4 ** (1 - t) * 20.0 ** t * (math.log(20.0) - math.log(1e-4))


def law(probs):
    p = probs.clamp(min=0)
    return p / p.sum()


def case(rule, noise, N, i, t_eps, factor, w):
    dt = (1 - t_eps) / N
    t = 1 - i * dt
    s_t = t - dt
    sig = sigma(noise, t)
    # the scores at a masked position: a law w over the tokens, total S
    S = factor / torch.expm1(sig).item()
    score = torch.ones(V)
    score[:MASK] = S * w
    x = MASK
    if rule == "mdlm":
        if noise == "ll":
            mt, ms = t, s_t
        else:
            mt, ms = -torch.expm1(-sig).item(), -torch.expm1(-sigma(noise, s_t)).item()
        q = torch.zeros(V)
        q[:MASK] = w * (mt - ms)
        q[MASK] = ms
        probs = q
    elif rule == "euler":
        edge = torch.ones(V)          # transp_rate(MASK): 1 everywhere but MASK
        edge[MASK] = 0
        rate = edge * score
        rate[x] = 0
        rate[x] = -rate.sum()
        probs = torch.nn.functional.one_hot(torch.tensor(x), V).to(torch.float64) + dt * dsigma(noise, t) * rate
    else:
        D = sig - sigma(noise, s_t)
        stag = score.clone() * D.exp()
        stag[MASK] += (1 - D.exp()) * score.sum()
        trans = (1 - torch.exp(-D)) * torch.ones(V)
        trans[x] += torch.exp(-D)
        probs = stag * trans
    p = law(probs)
    move = 1 - p[MASK].item()
    if move > 0:
        target = p[:MASK] / p[:MASK].sum()
        assert torch.allclose(target, w, rtol=1e-12, atol=0), (rule, noise, target, w)
    return S, move


def main():
    g = torch.Generator().manual_seed(0)
    rules = {"mdlm": "REMASK_MDLM", "euler": "REMASK_SEDD_EULER", "analytic": "REMASK_SEDD_ANALYTIC"}
    noises = {"ll": "NOISE_LOGLINEAR", "geo": "NOISE_GEOMETRIC"}
    for rule in rules:
        for noise in noises:
            for N, i, t_eps, factor in [(16, 0, 1e-5, 1.0), (16, 5, 1e-5, 0.3), (16, 15, 1e-5, 2.0),
                                        (7, 3, 1e-3, 40.0), (100, 99, 1e-5, 1.0), (100, 50, 0.01, 0.05)]:
                w = torch.rand(V - 1, generator=g) + 0.1
                w = w / w.sum()
                S, move = case(rule, noise, N, i, t_eps, factor, w)
                print(f"    {{{rules[rule]}, {noises[noise]}, {N}, {i}, {t_eps!r}, {S!r}, {move!r}}},")


if __name__ == "__main__":
    main()
