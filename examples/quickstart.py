"""Quick start: quantize weights to log codes, predict the engine's output, write its Verilog.

Run ``python examples/quickstart.py [--out DIR]``. It prints the log codes of a few weights,
the integer dot product the hardware will produce (and its real value), and writes the
engine's Verilog and manifest into ``DIR`` (default ``build/quickstart``).
"""

import argparse
import sys

import torch

from logdot.generators.engine import write
from logdot.golden.engine import EngineConfig, dot, to_real
from logdot.golden.quant import linear_quant, log_dequant, log_quant


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="build/quickstart", help="output directory")
    args = parser.parse_args(argv)

    weights = torch.tensor([0.3, -0.05, 0.0, 1.7])
    w_fsr = 1  # largest 4-bit code is 2**(w_fsr - 1) = 1.0
    codes = log_quant(weights, 4, w_fsr)
    print("weights     ", weights.tolist())
    print("log codes   ", codes.tolist())
    print("dequantized ", log_dequant(codes, 4, w_fsr).tolist())

    x = torch.tensor([0.625, -0.1875, 0.4375, 7.9375])
    act_exp = -4  # 8-bit activations with step 2**-4
    acts = linear_quant(x, 8, act_exp)
    print("activations ", acts.tolist())

    cfg = EngineConfig(lanes=4, act_bits=8, weight_bits=4)
    result = dot(cfg, acts.reshape(1, 4), codes.reshape(1, 4))
    real = to_real(cfg, result, weight_fsr=w_fsr, act_exp=act_exp)
    exact = float((log_dequant(codes, 4, w_fsr) * (acts * 2.0**act_exp)).sum())
    print(f"engine result {int(result[0])} (integer) = {float(real[0])} (real)")
    assert float(real[0]) == exact, (float(real[0]), exact)

    vpath, jpath = write(cfg, args.out, name="quickstart", force=True)
    print(f"wrote {vpath} and {jpath}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
