"""Sequence parallelism for the QA model's video encoder, checked on every rank against the single-process run.

    python -m torch.distributed.run --standalone --nproc-per-node V tests/qa_sequence_parallel_worker.py CASES_JSON

Each case is ``{"num_video_tokens": 4 | 0, "chunk": null | bytes, "backprop": "full" | "truncated"}``. Every rank
builds the same tiny QA model (tests/test_qa.py), computes the loss, logits and every parameter gradient in one process
(no collective), then makes the model sequence-parallel (``enable_sequence_parallel``), runs the same padded batch of
two videos, averages the gradients over the ranks and compares. Prints ``rank R: OK <n> cases``.
"""

from __future__ import annotations

import copy

import torch

from combination_matrix import gloo_main  # sibling modules (this file's folder is on sys.path when run as a script)
from test_qa import make_model
from test_qa_long_video import prompt_batch, video_batch
from test_qa_long_video import run as run_model

from bytevid_hf.parallel import average_sequence_parallel_gradients, enable_sequence_parallel
from bytevid_hf.testing.numerics import make_long_memory_

LENGTHS = (2000, 1313)  # last levels of 32 and 21 positions; shards of 1024 / 976 and 1024 / 289 bytes on 2 ranks


def check(case: dict) -> None:
    model = make_model(num_video_tokens=case["num_video_tokens"], video_chunk_backprop=case["backprop"]).train()
    make_long_memory_(model.bytevid)  # states persist across shards and chunks: a lost one changes the result
    video = video_batch(LENGTHS)
    placeholders = case["num_video_tokens"] or [-(-n // model.config.video_config.total_pool_factor) for n in LENGTHS]
    prompts = prompt_batch(placeholders)
    single = copy.deepcopy(model)
    loss, logits, grads = run_model(single, case["chunk"], video, prompts, backward=True)
    parallel = enable_sequence_parallel(model)
    model.config.video_chunk_size = case["chunk"]
    parallel.zero_grad(set_to_none=True)
    input_ids, attention_mask, labels = prompts
    out = parallel(input_ids=input_ids, attention_mask=attention_mask, video_input_ids=video[0],
                   video_attention_mask=video[1], labels=labels)
    out.loss.backward()
    average_sequence_parallel_gradients(parallel)
    torch.testing.assert_close(out.loss.detach(), loss, rtol=1e-5, atol=1e-6, msg=lambda m: f"{case} loss: {m}")
    torch.testing.assert_close(out.logits.detach(), logits, rtol=1e-5, atol=1e-5, msg=lambda m: f"{case} logits: {m}")
    got = {name: p.grad for name, p in parallel.named_parameters() if p.grad is not None}
    assert got.keys() == grads.keys(), f"{case}: gradients of {sorted(got.keys() ^ grads.keys())}"
    for name, reference in grads.items():
        tolerance = 1e-4 * float(reference.abs().max()) + 1e-8
        error = float((got[name] - reference).abs().max())
        assert error <= tolerance, f"{case}: grad {name}: max |Δ| {error:.3g} > {tolerance:.3g}"


def run(cases, world, rank) -> int:
    for case in cases:
        check(case)
    return len(cases)


if __name__ == "__main__":
    gloo_main(run)
