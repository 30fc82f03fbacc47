"""Peak memory of one QA training step (forward + backward) on one long video: one pass vs ``--video_chunk_size``.

Each measurement runs in a fresh process: a bytes-micro encoder (or ``--preset``) with a tiny 2-layer Gemma 3 text
model (width 32, built locally), one video of ``--bytes`` random bytes, 4 video tokens, a 16-token prompt; it reports
the peak RSS above the RSS just before the forward (``ru_maxrss`` minus the baseline) and the step time. Run with
``MALLOC_MMAP_THRESHOLD_=1048576`` so that freed activations go back to the OS and the peak is the live peak.

    MALLOC_MMAP_THRESHOLD_=1048576 python scripts/qa_long_video_memory.py --bytes 1000000 --chunks 0 65536 262144
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time


def measure(preset: str, num_bytes: int, chunk: int, threads: int) -> dict:
    import torch

    from bytevid_hf import BytesVideoConfig
    from bytevid_hf.modeling.configuration_qa import BytesVideoGemmaConfig
    from bytevid_hf.modeling.modeling_qa import BytesVideoGemmaForQA

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    text = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                num_key_value_heads=1, head_dim=16, vocab_size=300, max_position_embeddings=512, sliding_window=64,
                query_pre_attn_scalar=16, pad_token_id=0, eos_token_id=1, bos_token_id=2)
    config = BytesVideoGemmaConfig(video_config=BytesVideoConfig.from_preset(preset), text_config=text,
                                   num_video_tokens=4, video_token_id=4, video_chunk_size=chunk or None)
    model = BytesVideoGemmaForQA(config).train()
    video = torch.randint(0, 256, (1, num_bytes), dtype=torch.uint8)
    input_ids = torch.randint(5, 300, (1, 16))
    input_ids[0, 1:5] = 4
    labels = input_ids.clone()
    labels[0, :12] = -100
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    start = time.perf_counter()
    out = model(input_ids=input_ids, video_input_ids=video, labels=labels)
    out.loss.backward()
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"preset": preset, "bytes": num_bytes, "video_chunk_size": chunk, "baseline_rss_mb": round(base / 1024),
            "peak_above_baseline_mb": round((peak - base) / 1024), "step_s": round(seconds, 1),
            "loss": float(out.loss)}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="bytes-micro")
    parser.add_argument("--bytes", type=int, default=1_000_000)
    parser.add_argument("--chunks", type=int, nargs="+", default=[0, 65536], help="0 = one pass")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)  # the child process
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(measure(args.preset, args.bytes, args.chunks[0], args.threads)))
        return
    for chunk in args.chunks:
        command = [sys.executable, __file__, "--one", "--preset", args.preset, "--bytes", str(args.bytes),
                   "--chunks", str(chunk), "--threads", str(args.threads)]
        print(subprocess.run(command, check=True, capture_output=True, text=True).stdout.strip(), flush=True)


if __name__ == "__main__":
    main()
