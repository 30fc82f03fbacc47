"""transformers' conventions, each with a test (issue 15, item 7): ``shift_labels``, ``config.output_hidden_states``,
a gradient for every parameter of every head, output masks as transformers returns them, ``torch.export`` and
``torch.compile`` without graph breaks on the C and torch scan backends."""

import numpy as np
import pytest
import torch

from bytevid_hf import (
    BytesVideoConfig,
    BytesVideoForCausalLM,
    BytesVideoForClassification,
    BytesVideoForRGBReconstruction,
    BytesVideoModel,
)
from bytevid_hf.modeling.scan_c import kernel_available

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # conftest.py

BACKENDS = [pytest.param("c", marks=pytest.mark.skipif(not kernel_available(), reason="no C compiler")), "torch"]


def micro(**overrides):
    overrides.setdefault("num_labels", 3)
    return BytesVideoConfig.from_preset("bytes-micro", **overrides)


def ids_and_mask(batch=2, length=300, seed=0):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, 256, (batch, length), generator=g, dtype=torch.uint8)
    mask = torch.ones(batch, length, dtype=torch.long)
    mask[-1, length * 2 // 3 :] = 0
    return ids, mask


def rgb_config():
    return micro(reconstruction_tokens=(2, 2, 2), reconstruction_frames=2, reconstruction_size=8,
                 reconstruction_hidden_size=8)


def test_shift_labels_are_honoured():
    """BytesVideoForCausalLM takes transformers' pre-shifted ``shift_labels`` (not swallowed by **kwargs): the same loss
    as ``labels``, and a different one when they differ."""
    torch.manual_seed(0)
    model = BytesVideoForCausalLM(micro())
    ids, mask = ids_and_mask()
    shifted = torch.full(ids.shape, -100, dtype=torch.long)
    shifted[:, :-1] = ids[:, 1:].long()
    by_labels = model(ids, attention_mask=mask, labels=ids).loss
    by_shift = model(ids, attention_mask=mask, shift_labels=shifted).loss
    torch.testing.assert_close(by_shift, by_labels)
    other = shifted.clone()
    other[:, :10] = (other[:, :10] + 1) % 256
    assert not torch.allclose(model(ids, attention_mask=mask, shift_labels=other).loss, by_labels)
    with pytest.raises(ValueError, match="shift_labels must have the input's shape"):
        model(ids, shift_labels=shifted[:, :5])


@pytest.mark.parametrize("head", ["backbone", "classifier", "causal_lm", "rgb"])
def test_config_output_hidden_states_is_honoured_by_every_head(head):
    torch.manual_seed(0)
    build = {"backbone": (BytesVideoModel, micro), "classifier": (BytesVideoForClassification, micro),
             "causal_lm": (BytesVideoForCausalLM, micro), "rgb": (BytesVideoForRGBReconstruction, rgb_config)}[head]
    config = build[1]()
    config.output_hidden_states = True
    model = build[0](config).eval()
    ids, mask = ids_and_mask()
    with torch.no_grad():
        out = model(ids, attention_mask=mask)
        explicit_off = model(ids, attention_mask=mask, output_hidden_states=False)
    levels = config.num_levels
    assert out.hidden_states is not None and len(out.hidden_states) == levels + 1  # embeddings + each level
    assert [h.shape[1] for h in out.hidden_states] == [300] + [-(-300 // 4**i) for i in range(levels)]
    assert explicit_off.hidden_states is None


def _qa_model_and_batch():
    from test_qa import make_model, make_tokenizer

    from bytevid_hf.processing import BytesVideoProcessor, BytesVideoQAProcessor

    model = make_model(seed=3)
    processor = BytesVideoQAProcessor(BytesVideoProcessor(max_length=512), make_tokenizer(), num_video_tokens=4)
    video = bytes(range(256)) * 2
    batch = processor(videos=[video], text=["What is it?"], answers=["a cat"], return_tensors="pt")
    return model, dict(batch)


@pytest.mark.parametrize("head", ["classifier", "causal_lm", "rgb", "qa"])
def test_every_parameter_of_every_head_gets_a_gradient(head):
    """No parameter is left without a gradient (DDP without find_unused_parameters would stop)."""
    torch.manual_seed(0)
    ids, mask = ids_and_mask()
    if head == "classifier":
        model, inputs = BytesVideoForClassification(micro()), dict(labels=torch.tensor([0, 2]))
    elif head == "causal_lm":
        model, inputs = BytesVideoForCausalLM(micro()), dict(labels=ids)
    elif head == "rgb":
        model = BytesVideoForRGBReconstruction(rgb_config())
        inputs = dict(pixel_values=torch.rand(2, 2, 3, 8, 8))
    if head == "qa":
        model, batch = _qa_model_and_batch()
        loss = model(**batch).loss
    else:
        loss = model(ids, attention_mask=mask, **inputs).loss
    loss.backward()
    missing = [name for name, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not missing, missing


def test_output_masks_are_long_like_transformers():
    """``attention_mask`` in the output is int64 0/1, the dtype transformers' processors and models use."""
    model = BytesVideoModel(micro()).eval()
    ids, mask = ids_and_mask()
    with torch.no_grad():
        out = model(ids, attention_mask=mask)
    assert out.attention_mask.dtype == torch.long and set(out.attention_mask.unique().tolist()) <= {0, 1}
    assert out.attention_mask.shape == out.last_hidden_state.shape[:2]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("model_class", [BytesVideoModel, BytesVideoForClassification])
def test_torch_export_non_strict(model_class, backend):
    """torch.export.export (non-strict) traces the whole model: the scan is one custom op with a fake
    implementation; the exported program gives the eager outputs."""
    torch.manual_seed(0)
    model = model_class(micro(ssm_backend=backend)).eval()
    ids, mask = ids_and_mask()
    with torch.no_grad():
        eager = model(ids, attention_mask=mask)
        program = torch.export.export(model, (ids,), {"attention_mask": mask}, strict=False)
        exported = program.module()(ids, attention_mask=mask)
    key = "logits" if model_class is BytesVideoForClassification else "pooler_output"
    torch.testing.assert_close(exported[key], eager[key], rtol=1e-5, atol=1e-6)
    ops = {str(node.target) for node in program.graph.nodes if node.op == "call_function"}
    assert any("bytevid." in op and "scan_fwd" in op for op in ops), sorted(ops)


@pytest.mark.parametrize("backend", BACKENDS)
def test_torch_compile_has_no_graph_breaks(backend):
    """torch.compile(fullgraph=True) — which raises on any graph break — of the classifier, forward and backward;
    outputs and gradients equal eager mode. (aot_eager: dynamo + AOT autograd without code generation, so the test
    checks tracing, fake implementations and autograd registrations fast; inductor on top is a slow test.)"""
    torch.manual_seed(0)
    model = BytesVideoForClassification(micro(ssm_backend=backend)).train()
    ids, mask = ids_and_mask()
    labels = torch.tensor([0, 1])
    eager = model(ids, attention_mask=mask, labels=labels)
    eager_grads = torch.autograd.grad(eager.loss, list(model.parameters()))
    compiled = torch.compile(model, fullgraph=True, backend="aot_eager")
    out = compiled(ids, attention_mask=mask, labels=labels)
    grads = torch.autograd.grad(out.loss, list(model.parameters()))
    torch.testing.assert_close(out.logits, eager.logits, rtol=1e-5, atol=1e-6)
    for g, g_eager in zip(grads, eager_grads):
        torch.testing.assert_close(g, g_eager, rtol=1e-4, atol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_torch_compile_inductor(backend):
    torch.manual_seed(0)
    model = BytesVideoForClassification(micro(ssm_backend=backend)).eval()
    ids, mask = ids_and_mask()
    with torch.no_grad():
        eager = model(ids, attention_mask=mask).logits
        compiled = torch.compile(model, fullgraph=True)(ids, attention_mask=mask).logits
    torch.testing.assert_close(compiled, eager, rtol=1e-4, atol=1e-5)


# ---------------------------------------------------------------------------------------------------------------------
# Trainer.predict / evaluate: the predictions are the head's main output (config.keys_to_ignore_at_inference)
# ---------------------------------------------------------------------------------------------------------------------
def _predict_trainer(model, tmp_path, **kwargs):
    from transformers import Trainer, TrainingArguments

    args = TrainingArguments(str(tmp_path), per_device_eval_batch_size=2, report_to=[], use_cpu=True,
                             disable_tqdm=True)
    return Trainer(model=model, args=args, **kwargs)


@pytest.mark.parametrize("head", ["classifier", "causal_lm", "rgb"])
def test_trainer_predict_gives_the_main_output_as_one_array(head, tmp_path):
    """``trainer.predict(ds).predictions`` is one ndarray — the classifier's logits (N, num_labels), the next-byte
    model's logits (N, L, 256), the RGB head's reconstruction — equal to the model's own output, not a tuple with
    ``pooler_output``."""
    import datasets

    torch.manual_seed(0)
    model_class, config, key = {
        "classifier": (BytesVideoForClassification, micro(), "logits"),
        "causal_lm": (BytesVideoForCausalLM, micro(), "logits"),
        "rgb": (BytesVideoForRGBReconstruction, rgb_config(), "reconstruction"),
    }[head]
    model = model_class(config).eval()
    ids = ids_and_mask(batch=3, length=200)[0]
    columns = {"input_ids": ids.tolist()}  # 2 eval batches: 2 rows, then 1
    inputs = {}
    if head == "rgb":  # its forward has return_loss=True (Trainer then expects a loss): evaluated with its targets
        inputs["pixel_values"] = torch.rand(3, *model.expected_pixel_shape, generator=torch.Generator().manual_seed(0))
        columns["pixel_values"] = inputs["pixel_values"].tolist()
    predictions = _predict_trainer(model, tmp_path).predict(datasets.Dataset.from_dict(columns)).predictions
    with torch.no_grad():
        expected = model(ids, **inputs)[key].numpy()
    assert isinstance(predictions, np.ndarray), type(predictions)
    assert predictions.shape == expected.shape
    if head == "classifier":
        assert predictions.shape == (3, config.num_labels)
    np.testing.assert_allclose(predictions, expected, rtol=1e-5, atol=1e-6)


def test_trainer_evaluate_hands_compute_metrics_the_logits(tmp_path):
    import datasets

    torch.manual_seed(0)
    model = BytesVideoForClassification(micro()).eval()
    ids = ids_and_mask(batch=3, length=200)[0]
    dataset = datasets.Dataset.from_dict({"input_ids": ids.tolist(), "labels": [0, 2, 1]})
    seen = []

    def compute_metrics(eval_pred):
        seen.append(eval_pred.predictions)
        return {"n": len(eval_pred.predictions)}

    metrics = _predict_trainer(model, tmp_path, compute_metrics=compute_metrics).evaluate(dataset)
    assert metrics["eval_n"] == 3 and "eval_loss" in metrics
    assert isinstance(seen[0], np.ndarray) and seen[0].shape == (3, 3)


def test_trainer_prediction_step_of_the_qa_model_gives_the_logits(tmp_path):
    """The QA model's predictions are the language model's logits, without its KV cache or the video tokens."""
    model, batch = _qa_model_and_batch()
    model.eval()
    batch.pop("labels")
    _, logits, _ = _predict_trainer(model, tmp_path).prediction_step(model, batch, prediction_loss_only=False)
    with torch.no_grad():
        expected = model(**batch).logits
    assert isinstance(logits, torch.Tensor), type(logits)
    torch.testing.assert_close(logits, expected)


def test_qa_attn_implementation_is_the_language_models_when_the_encoder_has_no_attention(tmp_path):
    """attn_implementation="sdpa"/"eager" on the QA model reaches Gemma; the Mamba encoder (no attention) stays
    "eager" instead of rejecting "sdpa" as a stand-alone Mamba model does; same logits either way."""
    from test_qa import make_config

    from bytevid_hf.modeling.modeling_qa import BytesVideoGemmaForQA

    model, batch = _qa_model_and_batch()
    model.eval().save_pretrained(tmp_path)
    with torch.no_grad():
        reference = model(**batch).logits
        for implementation in ("sdpa", "eager"):
            loaded = BytesVideoGemmaForQA.from_pretrained(tmp_path, attn_implementation=implementation).eval()
            configs = loaded.config, loaded.config.text_config, loaded.config.video_config
            assert [c._attn_implementation for c in configs] == [implementation, implementation, "eager"]
            torch.testing.assert_close(loaded(**batch).logits, reference, rtol=1e-4, atol=1e-5)
        loaded.set_attn_implementation("sdpa")
        assert (loaded.config.text_config._attn_implementation, loaded.config.video_config._attn_implementation) == (
            "sdpa", "eager")
    assert BytesVideoGemmaForQA(make_config(attn_implementation="sdpa")).config.video_config._attn_implementation == "eager"
