"""Baselines that cannot see the input, and a check that a pre-trained encoder really transferred (issue 18, item 5).

A test that a model "learned something" must compare it with what a model that never looks at its input can reach on
the same data; otherwise a broken encoder (one whose output ignores the bytes) passes too. Each baseline here is
computed from the targets alone, independently of the package's models, and bounds *every* input-blind predictor on
those targets, including one fitted to them:

* :func:`blind_accuracy` - classification: the frequency of the most common label.
* :func:`unigram_cross_entropy` - next-byte prediction: the entropy of the targets' byte histogram.
* :func:`constant_prediction_mse` / :func:`channel_mean_mse` - regression (RGB reconstruction): the MSE of the mean
  target (per element, or per channel).

:func:`blind_embeddings` makes a model input-blind in place (to show that a test's assertion can fail),
:func:`blind_every_encoder` every byte model of the process (``scripts/blind_encoder_check.py``),
:func:`assert_encoder_transferred` checks a pre-training -> classification transfer beyond the embedding table, and
:func:`checkpoint_logits` / :func:`accuracy_of_logits` / :func:`assert_reads_the_content` re-evaluate a script's saved
classifier independently of the script (for smoke runs too short to beat a blind baseline).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator

import numpy as np
import torch


def blind_accuracy(labels: Iterable) -> float:
    """The best accuracy any classifier that ignores its input reaches on ``labels``: always predicting the most
    frequent label. Such a classifier's prediction is one constant, so its accuracy is that label's frequency."""
    labels = np.asarray(list(labels))
    if labels.size == 0:
        raise ValueError("labels is empty")
    _, counts = np.unique(labels, return_counts=True)
    return float(counts.max() / labels.size)


def unigram_cross_entropy(targets) -> float:
    """Entropy (nats) of the byte histogram of ``targets`` (bytes as any integer array / tensor / ``bytes``).

    The lowest mean cross-entropy a next-byte predictor reaches on these targets when its distribution does not
    depend on the bytes read before: for a fixed distribution q, the mean of ``-log q(target)`` is the cross-entropy
    of the histogram with q, at least the histogram's entropy (Gibbs). If the same targets occur at every position
    (e.g. all rotations of a periodic pattern), this also bounds a predictor that knows the position.
    """
    if isinstance(targets, (bytes, bytearray)):
        values = np.frombuffer(bytes(targets), dtype=np.uint8)
    else:
        values = torch.as_tensor(targets).reshape(-1).cpu().numpy()
    if values.size == 0:
        raise ValueError("targets is empty")
    counts = np.bincount(values.astype(np.int64), minlength=256)
    p = counts[counts > 0] / values.size
    return float(-(p * np.log(p)).sum())


def constant_prediction_mse(targets: torch.Tensor) -> float:
    """MSE of the best input-independent prediction of ``targets`` (B, ...): the mean over the B examples at every
    other index (any constant prediction c has MSE = this + mean((c - mean)^2))."""
    targets = torch.as_tensor(targets, dtype=torch.float64)
    return float(((targets - targets.mean(0, keepdim=True)) ** 2).mean())


def channel_mean_mse(targets: torch.Tensor, channel_dim: int) -> float:
    """MSE of predicting every element of ``targets`` by the mean target of its channel (``channel_dim``), e.g. the
    mean R, G and B of (B, T, 3, H, W) frames with ``channel_dim=2``. Never below :func:`constant_prediction_mse`."""
    targets = torch.as_tensor(targets, dtype=torch.float64)
    dims = tuple(d for d in range(targets.ndim) if d != channel_dim % targets.ndim)
    return float(((targets - targets.mean(dims, keepdim=True)) ** 2).mean())


@torch.no_grad()
def checkpoint_logits(checkpoint, videos, shuffle_seed: int | None = None) -> torch.Tensor:
    """(N, num_labels) logits of a saved classifier on ``videos`` (bytes or paths), one video at a time through the
    checkpoint's own processor and model: an evaluation independent of the Trainer's batching, padding and metric
    code, to check the accuracy a script reports.

    With ``shuffle_seed`` every video's bytes (as the processor returns them) are randomly permuted first: the same
    length and byte histogram without the content, the input of a baseline that cannot read the video."""
    from ..modeling import BytesVideoForClassification
    from ..processing import BytesVideoProcessor

    processor = BytesVideoProcessor.from_pretrained(checkpoint)
    model = BytesVideoForClassification.from_pretrained(checkpoint).eval()
    generator = torch.Generator().manual_seed(shuffle_seed) if shuffle_seed is not None else None
    rows = []
    for video in videos:
        inputs = processor(video, return_tensors="pt")
        if generator is not None:
            ids = inputs["input_ids"]
            inputs["input_ids"] = ids[:, torch.randperm(ids.shape[1], generator=generator)]
        rows.append(model(**inputs).logits)
    return torch.cat(rows)


def accuracy_of_logits(logits: torch.Tensor, labels, margin: float = 1e-4) -> tuple[float, float]:
    """``(accuracy, slack)``: the arg-max accuracy, and the fraction of rows whose top two logits are within
    ``margin`` (an arg-max that another evaluation's rounding may flip). Another evaluation of the same model agrees
    to within ``slack``."""
    labels = torch.as_tensor(list(labels))
    top2 = logits.topk(2, dim=-1).values
    accuracy = float((logits.argmax(-1) == labels).double().mean())
    return accuracy, float((top2[:, 0] - top2[:, 1] < margin).double().mean())


def assert_reads_the_content(logits: torch.Tensor, shuffled_logits: torch.Tensor, min_relative_change: float = 0.01):
    """A classifier's outputs change when the bytes of each input are shuffled (same length, same histogram): a model
    whose encoder ignores the content (or sees only the length) gives both the same output. The mean over inputs of
    ``|logits - shuffled| / |logits|`` must exceed ``min_relative_change``."""
    change = ((logits - shuffled_logits).norm(dim=-1) / logits.norm(dim=-1).clamp_min(1e-12)).mean()
    assert float(change) > min_relative_change, (
        f"the outputs barely depend on the bytes' content: relative change {float(change):.2e} when they are "
        f"shuffled (over {len(logits)} inputs)")


@contextlib.contextmanager
def blind_embeddings(model: torch.nn.Module, byte: int = 0) -> Iterator[torch.nn.Module]:
    """Within the block, ``model``'s input embeddings return the embedding of ``byte`` at every position: the
    model no longer sees its input but still trains (the embedding row gets gradients). A broken encoder for checking
    that a test's assertion can fail."""
    embeddings = model.get_input_embeddings()

    def hook(module, args, output):
        return module.weight[byte].expand_as(output)

    handle = embeddings.register_forward_hook(hook)
    try:
        yield model
    finally:
        handle.remove()


@contextlib.contextmanager
def blind_every_encoder(byte: int = 0) -> Iterator[None]:
    """Within the block, every ``BytesVideoModel`` forward in this process runs under :func:`blind_embeddings`: every
    byte-level model (classifier, pre-training heads, the QA encoder) sees the embedding of ``byte`` at every position
    and nothing of its input. ``scripts/blind_encoder_check.py`` runs the tests that claim a model learned something
    under it (in their script subprocesses too) to show that they fail."""
    from ..modeling.modeling_bytevid import BytesVideoModel

    forward = BytesVideoModel.forward

    def blind_forward(self, *args, **kwargs):
        with blind_embeddings(self, byte):
            return forward(self, *args, **kwargs)

    BytesVideoModel.forward = blind_forward
    try:
        yield
    finally:
        BytesVideoModel.forward = forward


@torch.no_grad()
def assert_encoder_transferred(pretrained: torch.nn.Module, classifier: torch.nn.Module,
                               input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> None:
    """``classifier`` (a ``BytesVideoForClassification`` loaded from ``pretrained``'s checkpoint) holds its whole
    encoder and only a fresh head:

    * the encoders' state dicts have the same keys (embeddings, every level's blocks, poolers, final norm) and equal
      values, bit for bit;
    * the classification head is freshly initialised: zero bias and weights of standard deviation
      ``config.initializer_range`` (not torch's default Linear init, not copied values);
    * on ``input_ids`` the encoders give bit-identical hidden states at every level and pooled outputs, which differ
      from those of a freshly initialised encoder (the transferred weights are not an init's).
    """
    source, target = pretrained.bytevid.state_dict(), classifier.bytevid.state_dict()
    assert source.keys() == target.keys(), f"encoder keys differ: {sorted(source.keys() ^ target.keys())}"
    parts = {name.split(".")[0] for name in source}
    expected = {"embeddings", "levels", "norm_f"} | ({"poolers"} if len(classifier.bytevid.levels) > 1 else set())
    assert expected <= parts, f"encoder state dict lacks {expected - parts}"
    for name, value in source.items():
        torch.testing.assert_close(target[name], value, rtol=0, atol=0, msg=lambda m, name=name: f"{name}: {m}")

    head, std = classifier.classifier, classifier.config.initializer_range
    assert torch.count_nonzero(head.bias) == 0, "classifier.bias is not freshly initialised (zeros)"
    measured = float(head.weight.std())
    assert abs(measured / std - 1) < 0.3, f"classifier.weight std {measured:.4g} is not the init's {std}"

    def encode(model):
        model_was_training = model.training
        model.eval()
        try:
            return model.bytevid(input_ids, attention_mask=attention_mask, output_hidden_states=True, return_dict=True)
        finally:
            model.train(model_was_training)

    ours, theirs = encode(classifier), encode(pretrained)
    assert len(ours.hidden_states) == len(theirs.hidden_states) == classifier.config.num_levels + 1
    for level, (a, b) in enumerate(zip(ours.hidden_states, theirs.hidden_states)):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=lambda m, level=level: f"hidden_states[{level}]: {m}")
    torch.testing.assert_close(ours.pooler_output, theirs.pooler_output, rtol=0, atol=0,
                               msg=lambda m: f"pooler_output (after the final norm): {m}")

    with torch.random.fork_rng(devices=[]):  # the caller's random stream is left as it was
        fresh = type(classifier.bytevid)(classifier.config).eval()
    other = fresh(input_ids, attention_mask=attention_mask, return_dict=True).pooler_output
    assert not torch.allclose(other, ours.pooler_output), "the transferred encoder computes what a fresh one does"


__all__ = [
    "accuracy_of_logits",
    "assert_reads_the_content",
    "assert_encoder_transferred",
    "blind_accuracy",
    "blind_embeddings",
    "blind_every_encoder",
    "channel_mean_mse",
    "checkpoint_logits",
    "constant_prediction_mse",
    "unigram_cross_entropy",
]
