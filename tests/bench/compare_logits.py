"""Compares two float32 logits files [L][vocab] (row-major, as dllm-cli
logits, bench_forward and llamacpp_forward write them): prints the max abs
difference relative to the max abs logit of the first, and the share of
positions whose argmax agrees.
usage: /usr/bin/python3 tests/bench/compare_logits.py A.f32 B.f32 L"""
import sys

import numpy as np

a_path, b_path, L = sys.argv[1], sys.argv[2], int(sys.argv[3])
a = np.fromfile(a_path, dtype="<f4").reshape(L, -1).astype(np.float64)
b = np.fromfile(b_path, dtype="<f4").reshape(L, -1).astype(np.float64)
if a.shape != b.shape:
    sys.exit("shapes differ: %s %s" % (a.shape, b.shape))
rel = np.abs(a - b).max() / np.abs(a).max()
agree = (a.argmax(1) == b.argmax(1)).mean()
print("%.1e (max|logit| %.2f), argmax %d/%d" % (rel, np.abs(a).max(), round(agree * L), L))
