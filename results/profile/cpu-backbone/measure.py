"""Where the shipped tiny backbone's CPU time goes, and what the inference kernels changed.

Run from the repository root: ``python results/profile/cpu-backbone/measure.py > results/profile/cpu-backbone/table.md``
(make.sh does it). One 128x128 tile (the mini suite's size), the shipped ``abair-tiny`` backbone.

- "training kernels": gradients enabled (nothing requires them), the path training takes: NCHW
  memory, PyTorch's own choice of 1x1-convolution kernel, GDFN as one strided tensor;
- "inference kernels": ``torch.no_grad()``, the CPU inference path (channels-last memory, oneDNN 1x1
  convolutions, GDFN halves, NHWC attention);
- "bf16 autocast": the inference kernels under ``torch.autocast("cpu", torch.bfloat16)``, with the
  PSNR it moves on the first 8 tiles of every mini set (abair-oh, each set's default protocol).

The glibc heap setting (abair.allocator) is process-wide: the first two rows run in a child process
with ``ABAIR_MALLOC=system`` (glibc's defaults), the others with the setting the command line applies.
Timings alternate between configurations in rounds (medians over rounds) on a quiet machine.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

CHILD = "--child" in sys.argv


def main() -> None:
    from abair import allocator

    allocator.tune()
    import torch

    from abair.model.checkpoint import load
    from bench.abair_methods import embedded_default

    threads = int(os.environ.get("THREADS", "1"))
    torch.set_num_threads(threads)
    model = load(embedded_default()).eval().requires_grad_(False)
    bb = model.backbone
    x = torch.rand(1, 3, 128, 128, generator=torch.Generator().manual_seed(0))

    def training_kernels():
        with torch.enable_grad():
            return bb(x)

    def inference_kernels():
        with torch.no_grad():
            return bb(x)

    def bf16():
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
            return bb(x).float()

    configs = {"training kernels": training_kernels, "inference kernels": inference_kernels}
    if not CHILD:
        configs["bf16 autocast"] = bf16
    times = {k: [] for k in configs}
    for f in configs.values():
        f(), f()
    for _ in range(12):
        for name, f in configs.items():
            t0 = time.perf_counter()
            for _ in range(3):
                f()
            times[name].append((time.perf_counter() - t0) / 3)
    medians = {k: sorted(v)[len(v) // 2] * 1e3 for k, v in times.items()}
    ref = inference_kernels()
    diffs = {k: float((f() - ref).abs().max()) for k, f in configs.items()}
    if CHILD:
        print(json.dumps({"medians": medians, "diffs": diffs}))
        return
    child = subprocess.run([sys.executable, __file__, "--child"], capture_output=True, text=True, check=True,
                           env=dict(os.environ, ABAIR_MALLOC="system"))
    glibc = json.loads(child.stdout.strip().splitlines()[-1])

    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with torch.enable_grad(), counter:
        bb(x)
    gflop = counter.get_total_flops() / 1e9

    from bench.profile.measure import matmul_rate

    matmul = matmul_rate("cpu")["gflops_per_s"]
    print(f"# The tiny backbone on CPU ({threads} thread{'s' if threads > 1 else ''}, 128x128, fp32 unless said)\n")
    print(f"{gflop:.2f} GFLOP per tile (convolutions and matmuls); dense 2048^3 fp32 matmul on the same "
          f"threads: {matmul:.0f} GFLOP/s.\n")
    print("| configuration | heap | median ms | GFLOP/s | % of matmul | max abs diff to inference kernels |")
    print("|---|---|---|---|---|---|")
    rows = [(k, "glibc defaults", glibc["medians"][k], glibc["diffs"][k]) for k in glibc["medians"]]
    rows += [(k, "kept (abair.allocator)", medians[k], diffs[k]) for k in medians]
    for name, heap, ms, diff in rows:
        print(f"| {name} | {heap} | {ms:.1f} | {gflop / (ms / 1e3):.1f} | {100 * gflop / (ms / 1e3) / matmul:.1f} "
              f"| {diff:.1e} |")
    print()
    _op_table(torch, bb, x, "training kernels", training_kernels)
    _op_table(torch, bb, x, "inference kernels", inference_kernels)
    _bf16_psnr(torch, model)


def _op_table(torch, bb, x, title, fn) -> None:
    from torch.profiler import ProfilerActivity, profile

    fn()
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        for _ in range(10):
            fn()
    events = prof.key_averages(group_by_input_shape=True)
    total = sum(e.self_cpu_time_total for e in events)
    print(f"## Top operators, {title} (torch.profiler, 10 forwards, self CPU time)\n")
    print("| operator | input shapes | ms per forward | share |")
    print("|---|---|---|---|")
    for e in sorted(events, key=lambda e: -e.self_cpu_time_total)[:12]:
        shapes = str(e.input_shapes)[:60].replace("|", "/")
        print(f"| {e.key} | {shapes} | {e.self_cpu_time_total / 10 / 1e3:.2f} | "
              f"{100 * e.self_cpu_time_total / total:.0f}% |")
    print()


def _bf16_psnr(torch, model) -> None:
    from bench.datasets import get_dataset, resolve_names
    from bench.protocols import get_protocol

    print("## bf16 autocast: PSNR moved (abair-oh, first 8 tiles of each mini set, default protocol)\n")
    print("| dataset | fp32 PSNR | bf16 PSNR | max abs change per tile (dB) |")
    print("|---|---|---|---|")
    from abair.imageops import tensor_to_float_array, uint8_to_tensor

    for name in resolve_names("mini", None):
        ds = get_dataset(name)
        protocol = get_protocol(ds.default_protocol)
        fp32, bf16, worst = [], [], 0.0
        for i, pair in enumerate(ds):
            if i == 8:
                break
            degraded, clean = protocol.prepare_pair(pair.degraded, pair.clean)
            x = uint8_to_tensor(degraded)[None]
            with torch.no_grad():
                a = model(x, mode="oh")
                with torch.autocast("cpu", dtype=torch.bfloat16):
                    b = model(x, mode="oh").float()
            pa = protocol.score(tensor_to_float_array(a.clamp(0, 1)), clean)["psnr"]
            pb = protocol.score(tensor_to_float_array(b.clamp(0, 1)), clean)["psnr"]
            fp32.append(pa)
            bf16.append(pb)
            worst = max(worst, abs(pa - pb))
        print(f"| {name} | {sum(fp32) / len(fp32):.3f} | {sum(bf16) / len(bf16):.3f} | {worst:.3f} |")


if __name__ == "__main__":
    main()
