"""Streaming: chunk-by-chunk processing equals the full forward, from every kind of source; ``cache`` / ``use_cache``
keep transformers' meaning (a harmless flag; a cache in, a new one out, the one passed in untouched)."""

import io

import numpy as np
import pytest
import torch

from bytevid_hf import BytesVideoConfig, BytesVideoForClassification, BytesVideoModel
from bytevid_hf.modeling.byte_chunks import iter_byte_chunks


def model_for(pooling="concat", seed=0):
    torch.manual_seed(seed)
    return BytesVideoForClassification(BytesVideoConfig.from_preset("bytes-micro", num_labels=3, pooling=pooling)).eval()


@pytest.mark.parametrize("pooling", ["concat", "average", "attention"])
@pytest.mark.parametrize(
    "length,chunk_size",
    [(1, 64), (5, 64), (64, 64), (1000, 64), (1001, 128), (3001, 100), (4096, 256), (97, 1)],
)
def test_stream_equals_full_forward(pooling, length, chunk_size):
    model = model_for(pooling)
    data = np.random.default_rng(length).integers(0, 256, size=length, dtype=np.uint8).tobytes()
    with torch.no_grad():
        full = model(torch.frombuffer(bytearray(data), dtype=torch.uint8)[None]).logits
    streamed = model.stream(data, chunk_size=chunk_size, progress=False).logits
    assert (streamed - full).abs().max().item() <= 1e-4


def test_hf_cache_convention_feeds_chunks():
    model = model_for()
    ids = torch.randint(0, 256, (2, 2500), dtype=torch.uint8)
    with torch.no_grad():
        full = model(ids).logits
        cache = None
        for start in range(0, 2500, 300):
            out = model(ids[:, start : start + 300], cache=cache, use_cache=True)
            assert out.cache is not None
            cache = out.cache
        alias = model(ids, cache_params=None, use_cache=True)
    torch.testing.assert_close(out.logits, full, atol=1e-4, rtol=0)
    torch.testing.assert_close(alias.logits, full, atol=1e-4, rtol=0)
    assert cache.seen_bytes == 2500


def test_every_source_type_streams_the_same(tmp_path, carphone_mp4):
    model = model_for()
    data = carphone_mp4.read_bytes()[:20000]
    path = tmp_path / "clip.mp4"
    path.write_bytes(data)
    with torch.no_grad():
        expected = model(torch.tensor(list(data), dtype=torch.uint8)[None]).logits
    sources = [
        str(path),
        path,
        data,
        io.BytesIO(data),
        np.frombuffer(data, dtype=np.uint8),
        torch.tensor(list(data), dtype=torch.uint8),
        (data[i : i + 999] for i in range(0, len(data), 999)),
    ]
    for source in sources:
        logits = model.stream(source, chunk_size=4096, progress=False).logits
        assert (logits - expected).abs().max().item() <= 1e-4, type(source)


def test_backbone_stream_returns_the_pooled_representation():
    torch.manual_seed(0)
    model = BytesVideoModel(BytesVideoConfig.from_preset("bytes-micro")).eval()
    data = bytes(range(256)) * 7
    with torch.no_grad():
        expected = model(torch.tensor(list(data), dtype=torch.uint8)[None]).pooler_output
    out = model.stream(data, chunk_size=333, progress=False)
    torch.testing.assert_close(out.pooler_output, expected, atol=1e-5, rtol=0)


def test_stream_errors_are_clear(tmp_path):
    model = model_for()
    with pytest.raises(FileNotFoundError, match="missing.mp4"):
        model.stream(str(tmp_path / "missing.mp4"), progress=False)
    with pytest.raises(ValueError, match="empty"):
        model.stream(iter([]), progress=False)
    with pytest.raises(ValueError, match="max_bytes"):
        model.stream(b"x" * 100, max_bytes=10, progress=False)
    with pytest.raises(TypeError, match="Unsupported"):
        model.stream(12345, progress=False)
    ids = torch.randint(0, 256, (2, 10), dtype=torch.uint8)
    mask = torch.ones(2, 10, dtype=torch.long)
    mask[1, 5:] = 0
    cache = model(ids[:, :5], use_cache=True).cache
    with pytest.raises(ValueError, match="every byte of the chunk must be real"):
        model(ids, attention_mask=mask, cache=cache)
    with pytest.raises(ValueError, match="cache holds 2 stream"):
        model(ids[:1], cache=cache)


def test_iter_byte_chunks_recuts_to_chunk_size():
    pieces = [b"a" * 10, b"", np.full(25, 7, dtype=np.uint8), torch.full((3,), 9, dtype=torch.uint8)]
    chunks = list(iter_byte_chunks(pieces, 8))
    assert all(c.size <= 8 for c in chunks)
    assert np.concatenate(chunks).tobytes() == b"a" * 10 + bytes([7] * 25) + bytes([9] * 3)
    with pytest.raises(ValueError, match="chunk_size"):
        list(iter_byte_chunks(b"abc", 0))


def test_use_cache_is_a_harmless_flag():
    """use_cache=True changes no output (only adds the cache), also on a padded batch and in training mode; a padded
    batch whose rows differ in length has no common state: a warning, and cache=None."""
    from transformers.utils import logging as hf_logging

    model = model_for()
    ids = torch.randint(0, 256, (2, 777), dtype=torch.uint8)
    mask = torch.ones_like(ids, dtype=torch.long)
    for train in (False, True):
        model.train(train)
        plain = model.bytevid(ids)
        cached = model.bytevid(ids, use_cache=True)
        for key in ("last_hidden_state", "pooler_output", "attention_mask"):
            torch.testing.assert_close(cached[key], plain[key], rtol=1e-5, atol=1e-6)  # fp rounding only
        assert plain.cache is None and cached.cache.seen_bytes == 777
    mask[1, 500:] = 0
    model.eval()
    hf_logging.get_logger("bytevid_hf.modeling.modeling_bytevid").warning_once.cache_clear()
    with torch.no_grad():
        padded = model(ids, attention_mask=mask)
        cached = model(ids, attention_mask=mask, use_cache=True)
    torch.testing.assert_close(cached.logits, padded.logits)
    assert cached.cache is None
    equal = mask.clone()
    equal[0, 500:] = 0  # both rows 500 real bytes: one common state, after the 500th byte
    with torch.no_grad():
        out = model(ids, attention_mask=equal, use_cache=True)
        alone = model(ids[:, :500], use_cache=True)
    torch.testing.assert_close(out.logits, alone.logits, rtol=1e-5, atol=1e-6)
    for got, want in zip(out.cache.layer_states[0], alone.cache.layer_states[0]):
        torch.testing.assert_close(got.ssm_state, want.ssm_state)


def test_a_cache_is_a_value():
    """The cache passed in is not modified, so the same state can be continued twice (here: two endings)."""
    model = model_for()
    ids = torch.randint(0, 256, (1, 900), dtype=torch.uint8)
    with torch.no_grad():
        cache = model(ids[:, :400], use_cache=True).cache
        before = [s.ssm_state.clone() for level in cache.layer_states for s in level]
        first = model(ids[:, 400:], cache=cache).logits
        second = model(ids[:, 400:], cache=cache).logits
        full = model(ids).logits
    after = [s.ssm_state for level in cache.layer_states for s in level]
    assert all(torch.equal(a, b) for a, b in zip(before, after)) and cache.seen_bytes == 400
    torch.testing.assert_close(first, second)
    torch.testing.assert_close(first, full, rtol=1e-4, atol=1e-5)


def test_no_automatic_mode_switch_inside_forward():
    """A long input through forward is one ordinary forward (full outputs); streaming is stream()'s choice."""
    torch.manual_seed(0)
    model = BytesVideoModel(BytesVideoConfig.from_preset("bytes-micro", streaming_chunk_size=128)).eval()
    ids = torch.randint(0, 256, (1, 3000), dtype=torch.uint8)
    with torch.no_grad():
        out = model(ids)
    assert out.last_hidden_state.shape[1] == -(-3000 // model.config.total_pool_factor)
    torch.testing.assert_close(model.stream(ids[0], progress=False).pooler_output, out.pooler_output,
                               rtol=1e-4, atol=1e-5)


def test_a_cache_owns_its_memory():
    """Every tensor of a cache owns a storage of its own size: a view into a level's output would keep that whole
    (B, L_i, D_i) output alive for as long as the cache lives (streaming, state carry), so memory would grow with the
    chunk instead of with the state."""
    torch.manual_seed(0)
    model = BytesVideoModel(BytesVideoConfig.from_preset("bytes-micro", pooling="concat")).eval()
    ids = torch.randint(0, 256, (2, 1001), dtype=torch.uint8)  # 1001: every level leaves an open window
    with torch.no_grad():
        cache = model(ids, use_cache=True).cache
    tensors = [t for t in cache.pool_buffers if t is not None]
    tensors += [t for states in cache.layer_states for state in states if state is not None for t in state]
    assert len([t for t in cache.pool_buffers if t is not None]) > 0
    for tensor in tensors:
        assert tensor.untyped_storage().nbytes() == tensor.numel() * tensor.element_size(), tensor.shape
