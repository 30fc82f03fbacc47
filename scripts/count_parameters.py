#!/usr/bin/env python
"""Print the presets table of the README: architecture and real parameter counts next to the paper's (Table 16).

    python scripts/count_parameters.py [--num_labels 400]
"""

import argparse

import torch

from bytevid_hf import PRESETS, BytesVideoConfig, BytesVideoForClassification

PAPER = {"bytes-tiny": ("12", "103M"), "bytes-base": ("33", "500M"), "bytes-large": ("45", "1B")}


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
    args = parser.parse_args(argv)
    print("| preset | N levels | M blocks/level | D | L_s | level widths | parameters | of which Mamba blocks "
          "| paper layers | paper params |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for name in PRESETS:
        config, total, mamba = count(name, args.num_labels)
        layers, params = PAPER.get(name, ("-", "-"))
        print(f"| {name} | {config.num_levels} | {config.layers_per_level} | {config.hidden_size} | {config.pool_size} "
              f"| {'/'.join(map(str, config.level_widths))} | {total / 1e6:.2f}M | {mamba / 1e6:.2f}M | {layers} "
              f"| {params} |")


if __name__ == "__main__":
    main()
