#!/usr/bin/env python
"""Print the presets table of the README: architecture and real parameter counts next to the paper's (Table 16).

    python scripts/count_parameters.py [--num_labels 400]
    python scripts/count_parameters.py --flops_length 262144 [--pooling concat average attention] [--mixer_type ...]

With ``--flops_length`` it prints instead, for every preset × pooling × mixer_type given, the parameters beside the
analytic forward TFLOPs of one video of that many bytes (``bytevid_hf.experiments.flops.forward_flops``) and the paper's TFLOPs
(Tables 8 and 16, Bytes-Tiny/B/L at 262,144 bytes).
"""

import argparse

import torch

from bytevid_hf import PRESETS, BytesVideoConfig, BytesVideoForClassification

PAPER = {"bytes-tiny": ("12", "103M"), "bytes-base": ("33", "500M"), "bytes-large": ("45", "1B")}
# Paper TFLOPs: Table 16 (concat pooling) and Table 8 (Bytes-Tiny with each pooling).
PAPER_TFLOPS = {("bytes-tiny", "concat"): 0.47, ("bytes-base", "concat"): 1.88, ("bytes-large", "concat"): 4.12,
                ("bytes-tiny", "average"): 0.38, ("bytes-tiny", "attention"): 1.33}


def count(name: str, num_labels: int) -> tuple[BytesVideoConfig, int, int]:
    config = BytesVideoConfig.from_preset(name, num_labels=num_labels)
    with torch.device("meta"):  # no memory is allocated
        model = BytesVideoForClassification(config)
    total = sum(p.numel() for p in model.parameters())
    mamba = sum(p.numel() for level in model.bytevid.levels for p in level.parameters())
    return config, total, mamba


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--num_labels", type=int, default=400, help="head size used for the count (Kinetics-400)")
    parser.add_argument("--flops_length", type=int, default=None,
                        help="print parameters and forward TFLOPs for a video of this many bytes instead")
    parser.add_argument("--pooling", nargs="+", default=["concat"], help="pooling methods (with --flops_length)")
    parser.add_argument("--mixer_type", nargs="+", default=["mamba"], help="mixer types (with --flops_length)")
    args = parser.parse_args(argv)
    if args.flops_length is not None:
        print_flops(args)
        return
    print("| preset | N levels | M blocks/level | D | L_s | level widths | parameters | of which Mamba blocks "
          "| paper layers | paper params |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for name in PRESETS:
        config, total, mamba = count(name, args.num_labels)
        layers, params = PAPER.get(name, ("-", "-"))
        print(f"| {name} | {config.num_levels} | {config.layers_per_level} | {config.hidden_size} | {config.pool_size} "
              f"| {'/'.join(map(str, config.level_widths))} | {total / 1e6:.2f}M | {mamba / 1e6:.2f}M | {layers} "
              f"| {params} |")


def print_flops(args) -> None:
    from bytevid_hf.experiments.flops import count_parameters, forward_flops

    print(f"| preset | mixer_type | pooling | parameters | TFLOPs / video of {args.flops_length:,} bytes "
          "| paper TFLOPs |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name in PRESETS:
        for mixer_type in args.mixer_type:
            for pooling in args.pooling:
                config = BytesVideoConfig.from_preset(name, num_labels=args.num_labels, pooling=pooling,
                                                      mixer_type=mixer_type)
                paper = PAPER_TFLOPS.get((name, pooling), "-") if mixer_type == "mamba" else "-"
                print(f"| {name} | {mixer_type} | {pooling} | {count_parameters(config) / 1e6:.2f}M "
                      f"| {forward_flops(config, args.flops_length) / 1e12:.3f} | {paper} |")


if __name__ == "__main__":
    main()
