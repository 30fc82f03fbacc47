"""Streaming inference: chunk-by-chunk processing equals the full forward, from every kind of source."""

import io

import numpy as np
import pytest
import torch

from bytevid_hf import BytesVideoConfig, BytesVideoForClassification, BytesVideoModel
from bytevid_hf.processing.chunks import iter_byte_chunks


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
    with pytest.raises(ValueError, match="every byte of the chunk must be real"):
        model(ids, attention_mask=mask, use_cache=True)


def test_iter_byte_chunks_recuts_to_chunk_size():
    pieces = [b"a" * 10, b"", np.full(25, 7, dtype=np.uint8), torch.full((3,), 9, dtype=torch.uint8)]
    chunks = list(iter_byte_chunks(pieces, 8))
    assert all(c.size <= 8 for c in chunks)
    assert np.concatenate(chunks).tobytes() == b"a" * 10 + bytes([7] * 25) + bytes([9] * 3)
    with pytest.raises(ValueError, match="chunk_size"):
        list(iter_byte_chunks(b"abc", 0))


def test_long_inference_inputs_switch_to_streaming_automatically(capsys):
    torch.manual_seed(0)
    config = BytesVideoConfig.from_preset("bytes-micro", num_labels=3, streaming_threshold=500, streaming_chunk_size=128)
    model = BytesVideoForClassification(config).eval()
    ids = torch.randint(0, 256, (2, 1500), dtype=torch.uint8)
    mask = torch.ones_like(ids, dtype=torch.long)
    mask[1, 1100:] = 0
    with torch.no_grad():
        streamed = model(ids, attention_mask=mask).logits
        assert "bytevid (streaming)" in capsys.readouterr().err  # progress bar for long inputs
        model.config.streaming_threshold = None
        full = model(ids, attention_mask=mask).logits
    torch.testing.assert_close(streamed, full, atol=1e-4, rtol=0)
