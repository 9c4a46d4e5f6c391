"""Loss curve from train/train_log.csv -> train/loss.svg (hand-written SVG, no deps).

    /usr/bin/python3 train/plot_loss.py [--baseline NATS]
"""
import argparse
import csv
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--log", default=os.path.join(HERE, "train_log.csv"))
    ap.add_argument("--out", default=os.path.join(HERE, "loss.svg"))
    ap.add_argument("--eval", default=os.path.join(HERE, "eval.json"))
    a = ap.parse_args()
    rows = list(csv.DictReader(open(a.log)))
    tr = [(int(r["step"]), float(r["train_loss"])) for r in rows if r["train_loss"]]
    va = [(int(r["step"]), float(r["val_loss"])) for r in rows if r["val_loss"]]
    vce = [(int(r["step"]), float(r["val_ce_masked"])) for r in rows if r["val_ce_masked"]]
    base = None
    if os.path.exists(a.eval):
        base = json.load(open(a.eval)).get("unigram_entropy_nats")
    W, H, ml, mr, mt, mb = 760, 440, 60, 20, 40, 50
    xmax = max(s for s, _ in tr + va)
    ys = [y for _, y in tr + va + vce] + ([base] if base else [])
    ymin, ymax = 0.0, min(max(ys), 9.0)
    ymax = float(int(ymax) + 1)

    def X(s):
        return ml + (W - ml - mr) * s / xmax

    def Y(y):
        y = min(y, ymax)
        return mt + (H - mt - mb) * (1 - (y - ymin) / (ymax - ymin))

    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">' % (W, H),
           '<rect width="100%" height="100%" fill="white"/>',
           '<text x="%d" y="22" font-size="15">dllm-kjv: LLaDA masked-diffusion loss (nats)</text>' % ml]
    for k in range(int(ymax) + 1):
        y = Y(k)
        out.append('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#ddd"/>' % (ml, y, W - mr, y))
        out.append('<text x="%d" y="%.1f" text-anchor="end">%d</text>' % (ml - 6, y + 4, k))
    nt = 6
    for k in range(nt + 1):
        s = xmax * k / nt
        out.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#ddd"/>' % (X(s), mt, X(s), H - mb))
        out.append('<text x="%.1f" y="%d" text-anchor="middle">%d</text>' % (X(s), H - mb + 16, s))
    out.append('<text x="%d" y="%d" text-anchor="middle">step (batch 32 x 128 tokens)</text>' % ((W + ml) // 2, H - 12))

    def line(pts, color, width=1.5, dash=None):
        d = " ".join("%s%.1f,%.1f" % ("M" if i == 0 else "L", X(s), Y(y)) for i, (s, y) in enumerate(pts))
        return '<path d="%s" fill="none" stroke="%s" stroke-width="%s"%s/>' % (
            d, color, width, ' stroke-dasharray="%s"' % dash if dash else "")

    out.append(line(tr, "#89b"))
    out.append(line(va, "#d62", 2))
    out.append(line(vce, "#393", 2))
    legend = [("#89b", "train loss (LLaDA weighted, per token)"), ("#d62", "val loss (same, stratified t)"),
              ("#393", "val CE per masked token")]
    if base:
        out.append('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#555" stroke-dasharray="6,4"/>' % (
            ml, Y(base), W - mr, Y(base)))
        legend.append(("#555", "unigram entropy %.2f" % base))
    for i, (c, t) in enumerate(legend):
        y = mt + 14 + 18 * i
        out.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="3"/>' % (W - 300, y, W - 276, y, c))
        out.append('<text x="%d" y="%d">%s</text>' % (W - 270, y + 4, t))
    out.append("</svg>")
    open(a.out, "w").write("\n".join(out) + "\n")
    print("wrote", a.out)


if __name__ == "__main__":
    main()
