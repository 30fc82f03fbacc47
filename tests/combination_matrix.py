"""The combination matrix of issue 15: {1, 2, 4 processes} × {state carry off, on} × {piece lengths aligned, unaligned,
odd} × {concat, average, attention pooling} × {C, torch scan backend}.

Every case is checked against the single-process run on the full sequence (one forward with ``use_cache=True``):
the logits, every last-level position, the final cache (conv and SSM states of every layer, pooling buffers, running
mean) and every parameter gradient of a loss that reads all of them. With state carry the pieces pass their caches on
*without* detaching, so the loss over the pieces is a function of the whole sequence and its gradient must equal the
full run's. The SSMs decay slowly (``make_long_memory_``), so a lost or polluted state changes the result far beyond
the tolerance.

Run in-process for one process (``run_cases(cases, world=1)``) or under torchrun for several
(``python -m torch.distributed.run --nproc-per-node V tests/combination_matrix.py CASES_JSON``); each rank checks its
own results and prints ``rank R: OK <n> cases`` or raises naming the case and the tensor.
"""

from __future__ import annotations

import copy
import itertools
import json
import sys

import torch

from bytevid_hf import BytesVideoConfig, BytesVideoForClassification
from bytevid_hf.testing.numerics import make_long_memory_

# piece lengths (carry on) and sequence lengths (carry off); bytes-micro: total_pool_factor 64, pool_size**levels 256
PIECES = {
    "aligned": [1024, 1024],  # multiples of V · L_s^N for V <= 4
    "unaligned": [768, 768, 768],  # multiples of L_s^N but not of V · L_s^N (the 2304-byte repro)
    "odd": [771, 761, 773],  # no pooling window ends at a piece boundary
}
POOLINGS = ("concat", "average", "attention")
BACKENDS = ("c", "torch")
RTOL, ATOL = 1e-4, 2e-5


def all_cases():
    return [
        {"carry": carry, "lengths": lengths, "pooling": pooling, "backend": backend}
        for carry, lengths, pooling, backend in itertools.product((False, True), PIECES, POOLINGS, BACKENDS)
    ]


def build(case):
    torch.manual_seed(0)
    config = BytesVideoConfig.from_preset(
        "bytes-micro", num_labels=3, pooling=case["pooling"], ssm_backend=case["backend"], mixer_block_size=320
    )
    model = BytesVideoForClassification(config)
    make_long_memory_(model)  # A in [-0.05, -0.007], Δ ≈ 0.05: states persist over thousands of positions
    with torch.no_grad():
        model.classifier.weight.normal_(0.0, 1.0)
    if case.get("lora"):  # LoRA on every Mamba projection, random (non-zero) A and B: the adapters change every layer
        from peft import get_peft_model

        from bytevid_hf.training.lora import ssm_lora_config

        torch.manual_seed(2)
        model = get_peft_model(model, ssm_lora_config(r=4, init_lora_weights=False))
    return model


def inputs(case):
    g = torch.Generator().manual_seed(1)
    pieces = PIECES[case["lengths"]]
    ids = torch.randint(0, 256, (2, sum(pieces)), generator=g, dtype=torch.uint8)
    mask = torch.ones_like(ids, dtype=torch.long)
    if not case["carry"]:
        mask[1, sum(pieces) * 2 // 3 :] = 0  # a padded row: one call, no state to carry
    return ids, mask, pieces


class Probe:
    """Fixed random weights that turn outputs into one scalar loss (so gradients reach every output)."""

    def __init__(self, model, positions):
        g = torch.Generator().manual_seed(2)
        width = model.config.output_size
        self.hidden = torch.randn(2, positions, width, generator=g)
        self.logits = torch.randn(2, model.config.num_labels, generator=g)
        self.state_weights = {}
        self.generator = g

    def state_term(self, cache):
        total = 0.0
        for level, states in enumerate(cache.layer_states):
            for block, state in enumerate(states):
                for index, tensor in enumerate(state):
                    key = (level, block, index)
                    if key not in self.state_weights:
                        self.state_weights[key] = torch.randn(tensor.shape, generator=self.generator)
                    total = total + (tensor.float() * self.state_weights[key]).sum()
        return total


def forward(model, ids, mask, cache):
    """The backbone with the classifier's head on top: (backbone output, logits)."""
    model = model.get_base_model() if hasattr(model, "get_base_model") else model  # peft
    out = model.bytevid(ids, attention_mask=mask, cache=cache, use_cache=True)
    return out, model.classifier(model.dropout(out.pooler_output))


def reference(model, ids, mask):
    """The single-process run on the full sequence: outputs, final cache and gradients of the probe loss."""
    model.zero_grad()
    out, logits = forward(model, ids, mask, None)
    probe = Probe(model, out.last_hidden_state.shape[1])
    loss = (out.last_hidden_state * probe.hidden).sum() + (logits * probe.logits).sum()
    if out.cache is not None:
        loss = loss + probe.state_term(out.cache)
    loss.backward()
    grads = {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None}
    return out.last_hidden_state.detach(), logits.detach(), out.cache, grads, probe


def run(case, model, ids, mask, pieces, probe, world, rank):
    """The case under test: the pieces (carry on) or one call, on ``world`` ranks. Returns the logits, the final
    cache, this rank's last-level positions [(global index, tensor)] and the gradients."""
    from bytevid_hf.parallel import average_sequence_parallel_gradients, enable_sequence_parallel, shard_bounds

    if world > 1:
        model = enable_sequence_parallel(model)
    model.zero_grad()
    total_pool_factor = (model.get_base_model() if hasattr(model, "get_base_model") else model).config.total_pool_factor
    edges = list(itertools.accumulate([0, *pieces])) if case["carry"] else [0, ids.shape[1]]
    cache, loss, parts = None, 0.0, []
    for start, end in itertools.pairwise(edges):
        out, logits = forward(model, ids[:, start:end], mask[:, start:end], cache)
        seen = 0 if cache is None else cache.seen_bytes
        if rank == 0:  # the first rank continues the window the cache left open
            first = 0 if cache is None else cache.pooled_count
        else:
            shard_start = shard_bounds(end - start, world, total_pool_factor, offset=seen)[rank][0]
            first = (seen + shard_start) // total_pool_factor
        local = out.last_hidden_state
        final = end == edges[-1] or out.cache is None
        keep = local.shape[1] if final else max(0, min(local.shape[1], out.cache.pooled_count - first))
        if keep:  # local terms count once per rank; averaging the gradients divides by world
            loss = loss + world * (local[:, :keep] * probe.hidden[:, first : first + keep]).sum()
            parts.append((first, local[:, :keep].detach()))
        cache = out.cache  # not detached: gradients reach the earlier pieces, as in one call on the whole sequence
    loss = loss + (logits * probe.logits).sum()
    if cache is not None:
        loss = loss + probe.state_term(cache)
    loss.backward()
    if world > 1:
        average_sequence_parallel_gradients(model)
    grads = {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None}
    return logits.detach(), cache, parts, grads


def close(what, got, expected, case):
    try:
        torch.testing.assert_close(got, expected, rtol=RTOL, atol=ATOL * max(1.0, float(expected.abs().max())))
    except AssertionError as exc:
        raise AssertionError(f"{json.dumps(case)}: {what}: {exc}") from None


def check(case, world=1, rank=0):
    model = build(case)
    ids, mask, pieces = inputs(case)
    ref_hidden, ref_logits, ref_cache, ref_grads, probe = reference(copy.deepcopy(model), ids, mask)
    logits, cache, parts, grads = run(case, model, ids, mask, pieces, probe, world, rank)
    close("logits", logits, ref_logits, case)
    covered = 0
    for first, part in parts:
        close(f"last-level positions {first}..{first + part.shape[1]}", part, ref_hidden[:, first : first + part.shape[1]],
              case)
        covered += part.shape[1]
    if world == 1:
        assert covered == ref_hidden.shape[1], f"{case}: {covered} of {ref_hidden.shape[1]} last-level positions"
    assert (cache is None) == (ref_cache is None), f"{case}: cache {cache is not None}, reference {ref_cache is not None}"
    if ref_cache is not None:
        for level, (got_states, ref_states) in enumerate(zip(cache.layer_states, ref_cache.layer_states)):
            for block, (got, ref) in enumerate(zip(got_states, ref_states)):
                close(f"conv state {level}.{block}", got.conv_state.detach(), ref.conv_state.detach(), case)
                close(f"ssm state {level}.{block}", got.ssm_state.detach(), ref.ssm_state.detach(), case)
        for level, (got, ref) in enumerate(zip(cache.pool_buffers, ref_cache.pool_buffers)):
            assert (got is None) == (ref is None), f"{case}: pool buffer {level}"
            if ref is not None:
                close(f"pool buffer {level}", got.detach(), ref.detach(), case)
        close("running mean sum", cache.pooled_sum.detach(), ref_cache.pooled_sum.detach(), case)
        assert (cache.pooled_count, cache.seen_bytes) == (ref_cache.pooled_count, ref_cache.seen_bytes), case
    assert grads.keys() == ref_grads.keys() and (not case.get("lora") or all("lora_" in n for n in grads)), sorted(grads)
    for name, grad in grads.items():
        close(f"grad {name}", grad, ref_grads[name], case)


def run_cases(cases, world=1, rank=0, verbose=False):
    for case in cases:
        if verbose:
            print(f"rank {rank}: {json.dumps(case)}", flush=True)
        check(case, world, rank)
    return len(cases)


def gloo_main(run) -> None:
    """Under torchrun: the cases are ``sys.argv[1]`` (JSON); ``run(cases, world, rank)`` checks them on a gloo group
    and returns how many it checked; every rank then prints ``rank R: OK <n> cases``."""
    import os

    import torch.distributed as dist

    cases = json.loads(sys.argv[1])
    torch.set_num_threads(1)
    dist.init_process_group("gloo")
    try:
        count = run(cases, dist.get_world_size(), dist.get_rank())
        dist.barrier()
        print(f"rank {os.environ.get('RANK')}: OK {count} cases", flush=True)
    finally:
        dist.destroy_process_group()


def main():
    gloo_main(lambda cases, world, rank: run_cases(cases, world, rank, verbose="-v" in sys.argv))


if __name__ == "__main__":
    main()
