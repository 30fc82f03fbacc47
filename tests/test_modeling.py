"""BytesVideoModel / BytesVideoForClassification: architecture, padding, dtypes, losses, save/load, checkpointing."""

import importlib.util
import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoConfig, AutoModel, AutoModelForVideoClassification, MambaConfig
from transformers.models.mamba.modeling_mamba import MambaMixer

from bytevid_hf import BytesVideoConfig, BytesVideoForClassification, BytesVideoModel
from bytevid_hf.modeling import BytesVideoMambaMixer


def micro(**overrides):
    overrides.setdefault("num_labels", 3)
    return BytesVideoConfig.from_preset("bytes-micro", **overrides)


def random_bytes(batch, length, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (batch, length), generator=g, dtype=torch.uint8)


def test_mixer_is_weight_compatible_with_transformers_mamba_mixer():
    """Same parameter names/shapes as transformers' MambaMixer, and the same output with the same weights."""
    if importlib.util.find_spec("causal_conv1d") is not None:
        pytest.skip("transformers' MambaMixer calls causal-conv1d's CUDA-only kernel on CPU tensors once it is installed")
    torch.manual_seed(0)
    config = BytesVideoConfig(hidden_size=16, state_size=4, expand=2, conv_kernel=4, ssm_backend="torch")
    ours = BytesVideoMambaMixer(config, hidden_size=16)
    for p in ours.parameters():
        torch.nn.init.normal_(p, std=0.3)
    ref_config = MambaConfig(hidden_size=16, state_size=4, expand=2, conv_kernel=4, time_step_rank=1, num_hidden_layers=1)
    theirs = MambaMixer(ref_config, layer_idx=0)
    ours_sd, theirs_sd = ours.state_dict(), theirs.state_dict()
    assert {k: v.shape for k, v in ours_sd.items()} == {k: v.shape for k, v in theirs_sd.items()}
    theirs.load_state_dict(ours_sd)
    x = torch.randn(2, 37, 16)
    out, _ = ours(x)
    with torch.no_grad():
        expected = theirs.eval()(x)
    expected = expected[0] if isinstance(expected, tuple) else expected
    torch.testing.assert_close(out, expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("pooling", ["concat", "average", "attention"])
def test_padding_never_changes_a_real_videos_logits(pooling):
    torch.manual_seed(0)
    model = BytesVideoForClassification(micro(pooling=pooling)).eval()
    lengths = [300, 77, 129, 1]
    ids = random_bytes(len(lengths), max(lengths), seed=1)
    mask = torch.zeros_like(ids, dtype=torch.long)
    for i, n in enumerate(lengths):
        mask[i, :n] = 1
        ids[i, n:] = 255 - i  # garbage in padded slots must not matter
    with torch.no_grad():
        batched = model(ids, attention_mask=mask).logits
        for i, n in enumerate(lengths):
            alone = model(ids[i : i + 1, :n]).logits
            torch.testing.assert_close(batched[i : i + 1], alone, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("length", [1, 3, 63, 64, 65, 1000])
def test_any_length_works(length):
    model = BytesVideoModel(micro()).eval()
    with torch.no_grad():
        out = model(random_bytes(2, length), output_hidden_states=True)
    factor = model.config.total_pool_factor
    last_len = -(-length // factor)
    assert out.last_hidden_state.shape == (2, last_len, model.config.output_size)
    assert out.pooler_output.shape == (2, model.config.output_size)
    assert out.attention_mask.shape == (2, last_len) and bool(out.attention_mask.all())
    assert len(out.hidden_states) == model.config.num_levels + 1
    widths = model.config.level_widths
    for level, hidden in enumerate(out.hidden_states[1:]):
        assert hidden.shape[-1] == widths[level]


def test_level_structure_follows_config():
    config = micro(hidden_size=16, num_levels=3, layers_per_level=2, pool_size=2, level_width_multiplier=2)
    model = BytesVideoModel(config)
    assert [len(level) for level in model.levels] == [2, 2, 2]
    assert len(model.poolers) == 2
    assert [level[0].mixer.hidden_size for level in model.levels] == [16, 32, 64]
    assert model.poolers[0].proj.in_features == 2 * 16 and model.poolers[0].proj.out_features == 32
    assert model.embeddings.weight.shape == (256, 16)


def test_uint8_and_int64_inputs_agree_and_bad_inputs_are_named():
    model = BytesVideoForClassification(micro()).eval()
    ids = random_bytes(2, 50)
    with torch.no_grad():
        torch.testing.assert_close(model(ids).logits, model(ids.long()).logits)
    with pytest.raises(ValueError, match=r"input_ids must hold byte values in \[0, 255\]"):
        model(torch.full((1, 4), 256))
    with pytest.raises(TypeError, match="input_ids"):
        model(torch.zeros(1, 4))
    with pytest.raises(ValueError, match="input_ids must have shape"):
        model(torch.zeros(4, dtype=torch.uint8))
    with pytest.raises(ValueError, match="empty"):
        model(torch.zeros(1, 0, dtype=torch.uint8))
    with pytest.raises(ValueError, match="right-padded"):
        model(ids, attention_mask=torch.tensor([[0] * 10 + [1] * 40, [1] * 50]))
    with pytest.raises(ValueError, match="attention_mask shape"):
        model(ids, attention_mask=torch.ones(2, 49))


def test_losses_follow_problem_type():
    torch.manual_seed(0)
    ids = random_bytes(4, 40)
    model = BytesVideoForClassification(micro(num_labels=3)).eval()
    labels = torch.tensor([0, 1, 2, 1])
    out = model(ids, labels=labels)
    assert model.config.problem_type == "single_label_classification"
    torch.testing.assert_close(out.loss, torch.nn.functional.cross_entropy(out.logits, labels))

    model = BytesVideoForClassification(micro(num_labels=3)).eval()
    multi = torch.tensor([[1, 0, 1], [0, 0, 1], [1, 1, 1], [0, 0, 0]], dtype=torch.float)
    out = model(ids, labels=multi)
    assert model.config.problem_type == "multi_label_classification"
    torch.testing.assert_close(out.loss, torch.nn.functional.binary_cross_entropy_with_logits(out.logits, multi))

    model = BytesVideoForClassification(micro(num_labels=1)).eval()
    target = torch.randn(4)
    out = model(ids, labels=target)
    assert model.config.problem_type == "regression"
    torch.testing.assert_close(out.loss, torch.nn.functional.mse_loss(out.logits.squeeze(-1), target))


def test_save_load_round_trip_and_auto_classes(tmp_path):
    torch.manual_seed(0)
    model = BytesVideoForClassification(micro(id2label={0: "a", 1: "b", 2: "c"}, label2id={"a": 0, "b": 1, "c": 2}))
    model.eval()
    ids = random_bytes(2, 200)
    with torch.no_grad():
        expected = model(ids).logits
    model.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").is_file() and (tmp_path / "config.json").is_file()
    state = load_file(tmp_path / "model.safetensors")
    assert "bytevid.levels.0.0.mixer.A_log" in state

    assert isinstance(AutoConfig.from_pretrained(tmp_path), BytesVideoConfig)
    for loader in (BytesVideoForClassification, AutoModelForVideoClassification):
        reloaded = loader.from_pretrained(tmp_path).eval()
        assert isinstance(reloaded, BytesVideoForClassification)
        assert reloaded.config.id2label == {0: "a", 1: "b", 2: "c"}
        with torch.no_grad():
            torch.testing.assert_close(reloaded(ids).logits, expected, rtol=0, atol=0)
    backbone = AutoModel.from_pretrained(tmp_path).eval()
    assert isinstance(backbone, BytesVideoModel)
    with torch.no_grad():
        torch.testing.assert_close(backbone(ids).pooler_output, model.bytevid(ids).pooler_output, rtol=0, atol=0)


def test_determinism():
    torch.manual_seed(123)
    a = BytesVideoForClassification(micro())
    torch.manual_seed(123)
    b = BytesVideoForClassification(micro())
    for (name, p), q in zip(a.named_parameters(), b.parameters()):
        assert torch.equal(p, q), name
    ids = random_bytes(2, 100)
    a.eval()
    with torch.no_grad():
        assert torch.equal(a(ids).logits, a(ids).logits)


def test_mamba_initialisation():
    model = BytesVideoModel(micro())
    mixer = model.levels[0][0].mixer
    expected_A = torch.log(torch.arange(1, mixer.ssm_state_size + 1, dtype=torch.float32))
    torch.testing.assert_close(mixer.A_log.data, expected_A.expand_as(mixer.A_log))
    assert torch.equal(mixer.D.data, torch.ones_like(mixer.D))
    dt = torch.nn.functional.softplus(mixer.dt_proj.bias.data)
    assert float(dt.min()) >= 1e-4 - 1e-7 and float(dt.max()) <= 0.1 + 1e-6


def test_activation_checkpointing_is_one_blockwise_recompute_with_the_same_gradients():
    """activation_checkpointing_enable() (transformers' switch) makes each Mamba layer checkpoint block by block:
    every block runs once in forward and once more in backward — no second, layer-level recompute around it — and
    the gradients do not change."""
    torch.manual_seed(0)
    model = BytesVideoForClassification(micro(mixer_block_size=100)).train()
    ids, labels = random_bytes(2, 300), torch.tensor([0, 2])
    mixer = model.bytevid.levels[0][0].mixer
    runs = []
    real = mixer._run_block
    mixer._run_block = lambda *a: runs.append(1) or real(*a)
    loss = model(ids, labels=labels).loss
    plain = torch.autograd.grad(loss, list(model.parameters()))
    assert len(runs) == 3  # 300 positions in blocks of 100, no recompute
    model.activation_checkpointing_enable()
    assert model.is_activation_checkpointing
    runs.clear()
    loss_ckpt = model(ids, labels=labels).loss
    ckpt = torch.autograd.grad(loss_ckpt, list(model.parameters()))
    assert len(runs) == 6  # each block once in forward, once recomputed in backward
    torch.testing.assert_close(loss_ckpt, loss)
    for g, h in zip(plain, ckpt):
        torch.testing.assert_close(g, h, rtol=1e-5, atol=1e-7)
    model.activation_checkpointing_disable()
    assert not model.is_activation_checkpointing


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_load(tmp_path, dtype):
    torch.manual_seed(0)
    model = BytesVideoForClassification(micro()).eval()
    model.save_pretrained(tmp_path)
    half = BytesVideoForClassification.from_pretrained(tmp_path, dtype=dtype).eval()
    assert half.classifier.weight.dtype == dtype
    ids = random_bytes(2, 500)
    with torch.no_grad():
        logits = half(ids).logits
        full = model(ids).logits
    assert logits.dtype == dtype and torch.isfinite(logits).all()
    torch.testing.assert_close(logits.float(), full, rtol=0.1, atol=0.05)


def test_config_validation_errors_name_the_field():
    with pytest.raises(ValueError, match="pool_size"):
        BytesVideoConfig(pool_size=1)
    with pytest.raises(ValueError, match="pooling"):
        BytesVideoConfig(pooling="max")
    with pytest.raises(ValueError, match="ssm_backend"):
        BytesVideoConfig(ssm_backend="jax")
    with pytest.raises(ValueError, match="preset"):
        BytesVideoConfig.from_preset("bytes-huge")


def test_presets_follow_table_16():
    for name, m in [("bytes-tiny", 3), ("bytes-base", 8), ("bytes-large", 11)]:
        config = BytesVideoConfig.from_preset(name)
        assert (config.hidden_size, config.pool_size, config.num_levels, config.layers_per_level) == (256, 4, 4, m)
    with torch.device("meta"):
        micro_model = BytesVideoForClassification(BytesVideoConfig.from_preset("bytes-micro", num_labels=10))
    assert sum(p.numel() for p in micro_model.parameters()) < 1_000_000
