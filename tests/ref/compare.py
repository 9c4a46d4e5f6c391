#!/usr/bin/python3
"""compare.py GOT.f32 EXPECTED.npy TOL_REL [F32_EXPECTED.npy LOOSE_TOL_REL]

GOT is dllm-cli's raw float32 logits [n][vocab]. Passes when
max|got - expected| < TOL_REL * max|expected|, and, when given, the error
against the float32 model's logits stays under LOOSE_TOL_REL * its scale.
Non-finite expected entries (SEDD at sigma 0: +inf) must be matched exactly;
the scale and error are over the finite ones. Prints the relative errors
either way."""
import sys

import numpy as np

exp = np.load(sys.argv[2]).astype(np.float64)
got = np.fromfile(sys.argv[1], dtype="<f4").astype(np.float64)
if got.size != exp.size:
    print("size %d, expected %d" % (got.size, exp.size))
    sys.exit(1)
got = got.reshape(exp.shape)
fin = np.isfinite(exp)
if not np.array_equal(np.isfinite(got), fin) or not np.array_equal(got[~fin], exp[~fin]):
    print("non-finite entries differ: %d expected, %d got" % ((~fin).sum(), (~np.isfinite(got)).sum()))
    sys.exit(1)
gf, ef = got[fin], exp[fin]
scale = np.abs(ef).max()
if scale == 0:
    print("all finite entries zero: %s" % ("equal" if np.array_equal(gf, ef) else "differ"))
    sys.exit(0 if np.array_equal(gf, ef) else 1)
rel = np.abs(gf - ef).max() / scale
ok = rel < float(sys.argv[3])
msg = "rel err %.2e (tol %.0e)" % (rel, float(sys.argv[3]))
if len(sys.argv) > 5 and float(sys.argv[5]) > 0:
    f32 = np.load(sys.argv[4]).astype(np.float64)
    rel32 = np.abs(got - f32).max() / np.abs(f32).max()
    ok = ok and rel32 < float(sys.argv[5])
    msg += ", vs f32 model %.2e (tol %.0e)" % (rel32, float(sys.argv[5]))
print(msg)
sys.exit(0 if ok else 1)
