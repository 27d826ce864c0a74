"""Score motion-deblur (optional keyword options as a string) on dev set A or B."""

import sys

import numpy as np
from lib import evaluate, load

from baselines.classical import motion_deblur as md

tag = sys.argv[1]
kw = eval("dict(" + (sys.argv[2] if len(sys.argv) > 2 else "") + ")")
m = md.make(**kw)
dec = {}


def f(y, i):
    out = m.restore_array(y)
    dec[i] = m.last_decision
    return np.clip(out, 0, 1)


g = evaluate(f, tag=tag, label=f"module {tag} {kw}")
C, D, K, kinds, nb = load(tag)
for i in g:
    print(i, kinds[i], f"{g[i]:+.2f}", dec[i])
