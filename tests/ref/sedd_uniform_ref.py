#!/usr/bin/python3
"""Reference laws of one step of SEDD's uniform graph, written from the
official code's definitions (louaaron/Score-Entropy-Discrete-Diffusion) in
float64 torch, not from dllm's C, for tests/unit/test_cpu_sedd_uniform.c
(its table sedd_uniform_cases is this script's output, pasted):

  graph_lib.py Uniform over V tokens, current token i, scores s = exp(out)
  (the model zeroes out[i], so s_i = 1):
    rate(i) = transp_rate(i): 1/V everywhere, -(V - 1)/V at i;
    transp_transition(i, sigma): (1 - e^-sigma)/V everywhere, the rest of
      the unit mass at i;
    staggered_score(s, D) = (e^-D - 1)/(V e^-D) sum(s) + s / e^-D.
  sampling.py EulerPredictor: probs = onehot(i) + dt sigma'(t)
    reverse_rate(i, s), reverse_rate = transp_rate(i) * s with entry i
    replaced by minus the sum of the others;
  AnalyticPredictor (and the final Denoiser with D = sigma(t_eps)):
    probs = staggered_score(s, D) * transp_transition(i, D).
  catsample.py sample_categorical: argmax probs / Exp(1): entries <= 0
    never win, the law is clamp(probs, 0) normalised.

Each case prints {analytic, coef, i, {logits}, {law}} with V = 6; the
logits have out[i] = 0 as the model gives them.

    /usr/bin/python3 tests/ref/sedd_uniform_ref.py
"""
import torch

torch.set_default_dtype(torch.float64)
V = 6


def rate(i):
    r = torch.full((V,), 1.0 / V)
    r[i] = -(V - 1) / V
    return r


def transp_transition(i, sigma):
    tr = torch.full((V,), float(-torch.expm1(torch.tensor(-sigma)))) / V
    tr[i] = 0.0
    tr[i] = 1 - tr.sum()
    return tr


def staggered_score(s, d):
    epow = torch.exp(torch.tensor(-d))
    return (epow - 1) / (V * epow) * s.sum() + s / epow


def euler_probs(i, s, coef):
    rr = rate(i) * s
    rr[i] = 0.0
    rr[i] = -rr.sum()
    return torch.nn.functional.one_hot(torch.tensor(i), V).double() + coef * rr


def analytic_probs(i, s, coef):
    return staggered_score(s, coef) * transp_transition(i, coef)


def law(p):
    p = p.clamp(min=0)
    return p / p.sum()


cases = []
gen = torch.Generator().manual_seed(7)
for analytic, coef, spread in [(0, 0.05, 1.0), (0, 0.9, 2.0), (0, 3.0, 0.5), (1, 0.05, 1.0),
                               (1, 0.6, 0.7), (1, 2.5, 0.5), (1, 1e-4, 1.0), (0, 1e-3, 4.0)]:
    i = int(torch.randint(0, V, (1,), generator=gen))
    out = (torch.randn(V, generator=gen) * spread).float().double()  # the C table holds floats
    out[i] = 0.0
    s = out.exp()
    p = analytic_probs(i, s, coef) if analytic else euler_probs(i, s, coef)
    cases.append((analytic, coef, i, out.tolist(), law(p).tolist()))

def cfloat(x):
    t = "%.9g" % x
    return t + ("" if "." in t or "e" in t else ".0") + "f"


for a, c, i, out, lw in cases:
    fo = ", ".join(cfloat(x) for x in out)
    fl = ", ".join("%.17g" % x for x in lw)
    print("    {%d, %.17g, %d, {%s}, {%s}}," % (a, c, i, fo, fl))
