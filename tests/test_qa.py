"""BytesVideoGemmaForQA: the byte-level video encoder with a Gemma LM for video question answering (issue 6).

Everything is tiny and offline: a bytes-micro encoder, a 2-layer Gemma 3 text model of width 32 and a 300-token BPE
tokenizer trained here with the `tokenizers` library (wrapped as a PreTrainedTokenizerFast with a Gemma-style chat
template).
"""

from __future__ import annotations

import json
import string

import datasets
import pytest
import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForCausalLM,
    AutoModelForMultimodalLM,
    AutoProcessor,
    PreTrainedTokenizerFast,
    Trainer,
    TrainingArguments,
)

from bytevid_hf import BytesVideoConfig, BytesVideoForClassification, BytesVideoProcessor
from bytevid_hf.modeling.configuration_qa import BytesVideoGemmaConfig
from bytevid_hf.modeling.modeling_qa import BytesVideoGemmaForQA
from bytevid_hf.processing.processing_qa import BytesVideoQAProcessor, add_video_token
from bytevid_hf.training.qa_metrics import (
    ByteVideoQAExactMatch,
    ByteVideoQAMultipleChoiceAccuracy,
    compute_qa_metrics,
    extract_choice_letter,
    load_qa_metric,
    normalize_answer,
)
from bytevid_hf.training.qa import BytesVideoQACollator, apply_lora, evaluate_main, finetune_main
from bytevid_hf.data.synthetic import SyntheticVideoTask


CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}<start_of_turn>"
    "{{ 'model' if message['role'] == 'assistant' else message['role'] }}\n"
    "{{ message['content'] | trim }}<end_of_turn>\n{% endfor %}"
    "{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"
)
SPECIAL_TOKENS = ["<pad>", "<eos>", "<bos>", "<unk>", "<video>", "<start_of_turn>", "<end_of_turn>"]
CORPUS = [
    "user model how many cuts are there in the video?",
    "no cuts", "one cut", "two cuts", "three cuts",
    "Answer with the option's letter from the given choices directly.",
    "(a) red (b) blue (c) green (d) yellow", "what colour is the square?",
]
TEXT_CONFIG = dict(
    hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1,
    head_dim=16, vocab_size=300, max_position_embeddings=512, sliding_window=64, query_pre_attn_scalar=16,
    pad_token_id=0, eos_token_id=1, bos_token_id=2,
)
VIDEO_BYTES = 1024  # clips are truncated to this many bytes: fast, and still 16 last-level positions
QUESTION = "how many cuts are there in the video?"
ANSWER_WORDS = ["no cuts", "one cut"]


def make_tokenizer() -> PreTrainedTokenizerFast:
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=SPECIAL_TOKENS, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(CORPUS * 20, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<bos>", eos_token="<eos>", pad_token="<pad>",
                                   unk_token="<unk>", chat_template=CHAT_TEMPLATE)


def make_config(num_video_tokens=4, text_config=None, **overrides) -> BytesVideoGemmaConfig:
    return BytesVideoGemmaConfig(
        video_config=BytesVideoConfig.from_preset("bytes-micro", mixer_block_size=0),
        text_config=dict(text_config or TEXT_CONFIG),
        num_video_tokens=num_video_tokens,
        video_token_id=4,
        **overrides,
    )


def make_model(seed=0, **kwargs) -> BytesVideoGemmaForQA:
    torch.manual_seed(seed)
    return BytesVideoGemmaForQA(make_config(**kwargs))


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # conftest.py


@pytest.fixture(scope="module")
def tokenizer():
    return make_tokenizer()


@pytest.fixture(scope="module")
def processor(tokenizer):
    return BytesVideoQAProcessor(BytesVideoProcessor(max_length=VIDEO_BYTES), tokenizer, num_video_tokens=4)


@pytest.fixture(scope="module")
def clips():
    """Eight real H.264 clips with 0 or 1 scene cuts: [{"video": bytes, "label": int, ...}]."""
    return SyntheticVideoTask(num_classes=2, min_frames=16, max_frames=18).generate(8, seed=0, progress=False)


@pytest.fixture(scope="module")
def batch(processor, clips):
    return processor(
        [clips[0]["video"], clips[1]["video"]],
        [QUESTION, "what colour is the square?"],
        choices=[None, ["red", "blue", "green", "yellow"]],
        answers=["no cuts", "blue"],
    )


# ---------------------------------------------------------------------------------------------------------------------
# Config
# ---------------------------------------------------------------------------------------------------------------------
def test_config_validation_and_auto_round_trip(tmp_path):
    config = make_config()
    assert config.text_config.model_type == "gemma3_text" and config.video_config.model_type == "bytevid"
    config.save_pretrained(tmp_path)
    loaded = AutoConfig.from_pretrained(tmp_path)
    assert isinstance(loaded, BytesVideoGemmaConfig)
    assert loaded.text_config.hidden_size == 32 and loaded.video_config.hidden_size == 24
    assert loaded.num_video_tokens == 4 and loaded.video_token_id == 4 and loaded.video_token == "<video>"
    assert BytesVideoGemmaConfig(num_video_tokens=None).num_video_tokens == 0  # None = all last-level positions
    for model_type in ("gemma", "gemma2"):
        assert BytesVideoGemmaConfig(text_config={"model_type": model_type}).text_config.model_type == model_type
    bad = {
        "num_video_tokens": dict(num_video_tokens=-1),
        "Gemma-family": dict(text_config={"model_type": "llama"}),
        "video_token_id must be an id": dict(text_config=TEXT_CONFIG, video_token_id=300),
        "equals text_config.pad_token_id": dict(text_config=TEXT_CONFIG, video_token_id=0),
        "projector_hidden_act": dict(projector_hidden_act="nope"),
    }
    for message, kwargs in bad.items():
        with pytest.raises(ValueError, match=message):
            BytesVideoGemmaConfig(**kwargs)
    with pytest.raises(ValueError, match="video_token_id is not set"):
        BytesVideoGemmaForQA(BytesVideoGemmaConfig(text_config=TEXT_CONFIG, video_config={"hidden_size": 8}))


@pytest.mark.parametrize("model_type", ["gemma", "gemma2"])
def test_other_gemma_language_models(model_type, processor, clips):
    text = {k: v for k, v in TEXT_CONFIG.items() if k not in ("sliding_window", "query_pre_attn_scalar")}
    model = make_model(text_config={"model_type": model_type, **text}).eval()
    expected = {"gemma": "GemmaForCausalLM", "gemma2": "Gemma2ForCausalLM"}[model_type]
    assert type(model.language_model).__name__ == expected
    inputs = processor([clips[0]["video"]], [QUESTION])
    with torch.no_grad():
        assert torch.isfinite(model(**inputs).logits).all()


# ---------------------------------------------------------------------------------------------------------------------
# Model
# ---------------------------------------------------------------------------------------------------------------------
def test_forward_loss_backward_and_manual_cross_entropy(batch):
    model = make_model()
    out = model(**batch)
    logits, labels = out.logits, batch["labels"]
    assert logits.shape == (*batch["input_ids"].shape, 300)
    assert out.video_hidden_states.shape == (2 * 4, 32)  # 2 videos × 4 tokens, projected to the LM width
    # Manual next-token cross-entropy over the positions whose label is not -100 (the answer + eos) only.
    shift_logits, shift_labels = logits[:, :-1].reshape(-1, 300), labels[:, 1:].reshape(-1)
    scored = shift_labels != -100
    assert 0 < int(scored.sum()) < shift_labels.numel() // 4
    manual = torch.nn.functional.cross_entropy(shift_logits[scored], shift_labels[scored])
    torch.testing.assert_close(out.loss, manual)
    # The -100 positions really are left out: scoring every real position gives another loss.
    everything = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
    assert not torch.allclose(model(**{**batch, "labels": everything}).loss, out.loss)
    out.loss.backward()
    for prefix in ("bytevid.", "video_pooling.", "projector.", "language_model."):
        grads = [p.grad for n, p in model.named_parameters() if n.startswith(prefix)]
        assert grads and all(g is not None for g in grads), prefix
        assert any(g.abs().sum() > 0 for g in grads), prefix
    # Tied LM head (registered by the language model itself in the v5 tied-weights mapping).
    assert model.language_model.lm_head.weight is model.language_model.model.embed_tokens.weight
    assert model.all_tied_weights_keys == {"language_model.lm_head.weight": "language_model.model.embed_tokens.weight"}
    assert model.get_input_embeddings() is model.language_model.model.embed_tokens


def test_video_tokens_sit_at_the_placeholders(batch, processor, clips):
    model = make_model().eval()
    first = int((batch["input_ids"][0] == 4).nonzero()[0])
    other_videos = processor([clips[2]["video"]] * 2, ["x"] * 2)  # same prompts, another video
    other = dict(batch, video_input_ids=other_videos["video_input_ids"],
                 video_attention_mask=other_videos["video_attention_mask"])
    with torch.no_grad():
        a, b = model(**batch).logits, model(**other).logits
    torch.testing.assert_close(a[0, :first], b[0, :first])  # causal LM: positions before the video cannot change
    assert not torch.allclose(a[0, first:], b[0, first:])  # from the first video token on, they do
    with pytest.raises(ValueError, match="placeholder tokens .* must equal the number of video tokens"):
        model(**dict(batch, input_ids=batch["input_ids"].masked_fill(batch["input_ids"] == 4, 9)))
    with pytest.raises(ValueError, match="no video_input_ids were given"):
        model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
    with pytest.raises(ValueError, match="video\\(s\\) for 2 prompt"):
        model(**dict(batch, video_input_ids=batch["video_input_ids"][:1],
                     video_attention_mask=batch["video_attention_mask"][:1]))


def test_generate_encodes_the_video_once_and_matches_greedy_decoding(processor, clips):
    model = make_model().eval()
    inputs = processor([clips[0]["video"], clips[1]["video"]], [QUESTION, "what colour is the square?"],
                       choices=[None, ["red", "blue"]])
    assert (inputs["attention_mask"][:, 0] == 0).any() and (inputs["attention_mask"][:, -1] == 1).all()  # left pad
    calls = []
    encode = model.bytevid._encode
    model.bytevid._encode = lambda *a, **k: calls.append(1) or encode(*a, **k)
    try:
        generated = model.generate(**inputs, max_new_tokens=6, do_sample=False, eos_token_id=None)
    finally:
        del model.bytevid._encode
    assert len(calls) == 1, f"the video encoder ran {len(calls)} times during generate()"
    assert generated.shape == (2, inputs["input_ids"].shape[1] + 6)
    # Reference: greedy decoding without any cache (full forward, video included, at every step).
    ids, mask = inputs["input_ids"], inputs["attention_mask"]
    with torch.no_grad():
        for _ in range(6):
            logits = model(input_ids=ids, attention_mask=mask, video_input_ids=inputs["video_input_ids"],
                           video_attention_mask=inputs["video_attention_mask"]).logits
            ids = torch.cat([ids, logits[:, -1].argmax(-1, keepdim=True)], 1)
            mask = torch.cat([mask, torch.ones_like(mask[:, :1])], 1)
    assert torch.equal(generated, ids)


def test_save_and_load_give_identical_logits(tmp_path, batch):
    model = make_model().eval()
    model.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").is_file()
    for loader in (BytesVideoGemmaForQA, AutoModel, AutoModelForMultimodalLM):
        loaded = loader.from_pretrained(tmp_path).eval()
        assert isinstance(loaded, BytesVideoGemmaForQA)
        assert loaded.language_model.lm_head.weight is loaded.language_model.model.embed_tokens.weight
        with torch.no_grad():
            assert torch.equal(model(**batch).logits, loaded(**batch).logits)


def test_all_last_level_positions_mode(tokenizer, clips):
    model = make_model(num_video_tokens=0).eval()
    assert model.video_pooling is None
    processor = BytesVideoQAProcessor.for_model(model.config, BytesVideoProcessor(max_length=VIDEO_BYTES), tokenizer)
    inputs = processor([clips[0]["video"][:300], clips[1]["video"][:1000]], [QUESTION] * 2, answers=ANSWER_WORDS)
    # One placeholder per real last-level position: ceil(bytes / 64) with bytes-micro's 4 levels of pool size 4.
    assert (inputs["input_ids"] == 4).sum(1).tolist() == [5, 16]
    out = model(**inputs)
    assert out.video_hidden_states.shape == (21, 32) and torch.isfinite(out.loss)


# ---------------------------------------------------------------------------------------------------------------------
# Processor
# ---------------------------------------------------------------------------------------------------------------------
def test_processor_expands_placeholders_and_masks_labels(tmp_path, processor, tokenizer, batch, clips):
    assert set(batch) == {"input_ids", "attention_mask", "video_input_ids", "video_attention_mask", "labels"}
    assert batch["video_input_ids"].dtype == torch.uint8 and batch["video_input_ids"].shape[1] == VIDEO_BYTES
    assert (batch["input_ids"] == processor.video_token_id).sum(1).tolist() == [4, 4]
    assert (batch["attention_mask"][:, 0] == 1).all()  # right-padded for training
    for row, answer in enumerate(["no cuts", "b"]):  # multiple choice: trained as the option's letter
        labels = batch["labels"][row]
        kept = labels[labels != -100].tolist()
        assert kept == tokenizer.encode(answer, add_special_tokens=False) + [tokenizer.eos_token_id]
        real = int(batch["attention_mask"][row].sum())
        assert batch["input_ids"][row, real - len(kept) : real].tolist() == kept  # answer + eos end the row
        assert (labels[: real - len(kept)] == -100).all() and (labels[real:] == -100).all()
    prompt = tokenizer.decode(batch["input_ids"][1])
    assert "(a) red\n(b) blue\n(c) green\n(d) yellow" in prompt and prompt.startswith("<bos><start_of_turn>user\n")
    assert prompt.count("<video>") == 4
    # Answers may be given as a letter, an index or the option's text.
    for answer in ("B", 1, "(b)", "Blue"):
        again = processor([clips[1]["video"]], ["what colour is the square?"], choices=["red", "blue", "green"],
                          answers=[answer])
        assert tokenizer.decode(again["labels"][0][again["labels"][0] != -100]) == "b<eos>"
    plain = processor([clips[0]["video"]], [QUESTION], use_chat_template=False)["input_ids"][0]
    assert tokenizer.decode(plain) == "<video>" * 4 + "\n" + QUESTION + "\n"  # no template, no bos
    with pytest.raises(ValueError, match="neither an option letter"):
        processor([clips[1]["video"]], ["q"], choices=["red", "blue"], answers=["purple"])
    with pytest.raises(ValueError, match="1 video\\(s\\) for 2 question"):
        processor([clips[0]["video"]], ["q1", "q2"])
    with pytest.raises(ValueError, match="answers \\[1\\] are None"):
        processor([clips[0]["video"]] * 2, ["q1", "q2"], answers=["no cuts", None])
    with pytest.raises(ValueError, match="choices\\[0\\] must be a list"):
        processor([clips[0]["video"]] * 2, ["q1", "q2"], choices=["red|blue", None])
    with pytest.raises(ValueError, match="no single token"):
        BytesVideoQAProcessor(BytesVideoProcessor(), tokenizer, video_token="<clip>")

    processor.save_pretrained(tmp_path)
    loaded = AutoProcessor.from_pretrained(tmp_path)
    assert isinstance(loaded, BytesVideoQAProcessor) and isinstance(loaded.video_processor, BytesVideoProcessor)
    assert loaded.num_video_tokens == 4 and loaded.video_processor.max_length == VIDEO_BYTES
    again = loaded([clips[0]["video"], clips[1]["video"]], [QUESTION, "what colour is the square?"],
                   choices=[None, ["red", "blue", "green", "yellow"]], answers=["no cuts", "blue"])
    assert all(torch.equal(again[k], batch[k]) for k in batch)


def test_saved_processor_loads_its_video_processor_without_the_auto_classes(tmp_path, monkeypatch):
    """processing/ imports nothing outside processing/: a saved BytesVideoQAProcessor loads its video_processor with
    BytesVideoProcessor.from_pretrained, not through AutoVideoProcessor (whose QA mapping is registered by bytevid_hf.auto)."""
    from transformers import AutoVideoProcessor

    processor = BytesVideoQAProcessor(BytesVideoProcessor(max_length=VIDEO_BYTES, transcode=True, size=64),
                                      make_tokenizer(), num_video_tokens=4)
    processor.save_pretrained(tmp_path)

    def refuse(*args, **kwargs):
        raise AssertionError("the video processor was loaded through AutoVideoProcessor")

    monkeypatch.setattr(AutoVideoProcessor, "from_pretrained", refuse)
    loaded = BytesVideoQAProcessor.from_pretrained(tmp_path)
    assert type(loaded.video_processor) is BytesVideoProcessor
    assert loaded.video_processor.to_dict() == processor.video_processor.to_dict()
    assert loaded.tokenizer.get_vocab() == processor.tokenizer.get_vocab() and loaded.num_video_tokens == 4


def test_add_video_token_grows_the_tokenizer():
    tokenizer = make_tokenizer()
    assert add_video_token(tokenizer, "<video>") == 4 and len(tokenizer) == 300  # already there
    new_id = add_video_token(tokenizer, "<clip>")
    assert new_id == 300 and tokenizer.encode("<clip><clip>", add_special_tokens=False) == [300, 300]


# ---------------------------------------------------------------------------------------------------------------------
# Construction from parts
# ---------------------------------------------------------------------------------------------------------------------
def save_parts(root, tokenizer=None):
    """A bytes-micro video classifier and a Gemma 3 text LM (+ tokenizer) saved as separate checkpoints."""
    torch.manual_seed(1)
    encoder_dir, lm_dir = root / "encoder", root / "lm"
    BytesVideoForClassification(BytesVideoConfig.from_preset("bytes-micro", num_labels=3)).save_pretrained(encoder_dir)
    BytesVideoProcessor(max_length=VIDEO_BYTES).save_pretrained(encoder_dir)
    lm = AutoModelForCausalLM.from_config(BytesVideoGemmaConfig(text_config=TEXT_CONFIG).text_config)
    lm.save_pretrained(lm_dir)
    (tokenizer or make_tokenizer()).save_pretrained(lm_dir)
    return encoder_dir, lm_dir


def test_from_pretrained_parts(tmp_path, batch):
    encoder_dir, lm_dir = save_parts(tmp_path)
    model = BytesVideoGemmaForQA.from_pretrained_parts(encoder_dir, lm_dir, num_video_tokens=4)
    assert model.config.video_token_id == 4  # looked up in the tokenizer saved with the LM
    classifier = BytesVideoForClassification.from_pretrained(encoder_dir)
    for name, value in classifier.bytevid.state_dict().items():
        assert torch.equal(model.bytevid.state_dict()[name], value), name
    lm = AutoModelForCausalLM.from_pretrained(lm_dir)
    for name, value in lm.state_dict().items():
        assert torch.equal(model.language_model.state_dict()[name], value), name
    assert model.language_model.lm_head.weight is model.language_model.model.embed_tokens.weight
    assert model.config.video_config.architectures is None
    with torch.no_grad():
        assert torch.isfinite(model.eval()(**batch).logits).all()
    # A video token beyond the LM's vocabulary grows its embeddings.
    grown = BytesVideoGemmaForQA.from_pretrained_parts(encoder_dir, lm_dir, video_token_id=300, num_video_tokens=2)
    assert grown.config.text_config.vocab_size == 301 and grown.get_input_embeddings().weight.shape[0] == 301
    assert grown.get_output_embeddings().weight is grown.get_input_embeddings().weight
    with pytest.raises(ValueError, match="not a bytevid checkpoint"):
        BytesVideoGemmaForQA.from_pretrained_parts(lm_dir, lm_dir)
    with pytest.raises(ValueError, match="must be a Gemma-family causal LM"):
        BytesVideoGemmaForQA.from_pretrained_parts(encoder_dir, encoder_dir)


# ---------------------------------------------------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------------------------------------------------
def qa_rows(clips):
    return [{"video": c["video"], "question": QUESTION, "answer": ANSWER_WORDS[c["label"]]} for c in clips]


def test_trainer_loss_decreases(tmp_path, processor, clips):
    model = make_model()
    data = datasets.Dataset.from_list(qa_rows(clips))
    args = TrainingArguments(
        output_dir=str(tmp_path), max_steps=40, per_device_train_batch_size=4, learning_rate=3e-3,
        logging_steps=1, report_to="none", save_strategy="no", use_cpu=True, disable_tqdm=True,
        remove_unused_columns=False, seed=0, lr_scheduler_type="constant",
    )
    trainer = Trainer(model=model, args=args, train_dataset=data, data_collator=BytesVideoQACollator(processor))
    trainer.train()
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    assert len(losses) == 40
    assert sum(losses[-4:]) / 4 < 0.5 * sum(losses[:4]) / 4, losses


def test_lora_adapter_saves_and_reloads_identically(tmp_path, batch):
    from peft import PeftModel

    base_dir, adapter_dir = tmp_path / "base", tmp_path / "adapter"
    make_model().save_pretrained(base_dir)
    model = apply_lora(BytesVideoGemmaForQA.from_pretrained(base_dir), r=2)
    lora_names = [n for n, p in model.named_parameters() if p.requires_grad and "lora_" in n]
    assert lora_names and all(".language_model." in n for n in lora_names)
    assert {n.split(".self_attn.")[1].split(".")[0] for n in lora_names} == {"q_proj", "k_proj", "v_proj", "o_proj"}
    assert any(p.requires_grad for n, p in model.named_parameters() if "bytevid" in n)  # video side trains too
    frozen = [n for n, p in model.named_parameters() if ".language_model." in n and "lora_" not in n]
    assert frozen and not any(dict(model.named_parameters())[n].requires_grad for n in frozen)
    # One optimizer step so that the adapters (B = 0 at init) and the video side actually differ from the base.
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    model(**batch).loss.backward()
    optimizer.step()
    model.eval()
    model.save_pretrained(adapter_dir)
    with torch.no_grad():
        expected = model(**batch).logits
        base = BytesVideoGemmaForQA.from_pretrained(base_dir).eval()
        assert not torch.allclose(base(**batch).logits, expected)
        reloaded = PeftModel.from_pretrained(base, adapter_dir).eval()
        assert torch.equal(reloaded(**batch).logits, expected)
        merged = reloaded.merge_and_unload()
        assert isinstance(merged, BytesVideoGemmaForQA)
        torch.testing.assert_close(merged(**batch).logits, expected, rtol=1e-4, atol=1e-5)


# ---------------------------------------------------------------------------------------------------------------------
# Metrics
# ---------------------------------------------------------------------------------------------------------------------
def test_metrics_on_hand_made_examples():
    assert normalize_answer("  The Two-Cuts!! ") == "two cuts"
    assert normalize_answer("An apple, a pear.") == "apple pear"
    exact = ByteVideoQAExactMatch().compute(predictions=["Two cuts.", "the cat", "dog", "a dog"],
                                            references=["two cuts", "Cat", "cats", "dog"])
    assert exact == {"exact_match": 0.75}
    multi = load_qa_metric("exact_match", "multiple_references").compute(
        predictions=["Two cuts", "one"], references=[["2", "two cuts"], ["no cuts"]])
    assert multi == {"exact_match": 0.5}
    for text, letter in [("b", "b"), ("(B)", "b"), ("c) green", "c"), ("D.", "d"), ("The answer is (a).", "a"),
                         ("answer: c", "c"), ("I pick (d) yellow", "d"), ("a red ball", None), ("e", None)]:
        assert extract_choice_letter(text) == letter, text
    assert extract_choice_letter("Blue!", ["red", "blue", "green"]) == "b"
    accuracy = ByteVideoQAMultipleChoiceAccuracy().compute(
        predictions=["b", "(c) green", "blue", "no idea"], references=["b", "c", "b", "a"],
        choices=[["r", "blue", "g"], ["r", "b", "green"], ["red", "blue"], ["x", "y"]])
    assert accuracy == {"accuracy": 0.75, "unparsed": 0.25}
    assert ByteVideoQAMultipleChoiceAccuracy().compute(predictions=["b", "c)"], references=["b", "2"])["accuracy"] == 1
    mixed = compute_qa_metrics(["two cuts", "b", "one cut"], ["Two cuts", "blue", "no cuts"],
                               [None, ["red", "blue"], None])
    assert mixed == {"num_open_ended": 2, "num_multiple_choice": 1, "exact_match": 0.5,
                     "multiple_choice_accuracy": 1.0, "multiple_choice_unparsed": 0.0}


# ---------------------------------------------------------------------------------------------------------------------
# Scripts
# ---------------------------------------------------------------------------------------------------------------------
def test_freeze_options():
    from bytevid_hf.training.qa import QAModelArguments, prepare_for_training

    model = prepare_for_training(make_model(), QAModelArguments(freeze_lm=True))
    trainable = {n.split(".")[0] for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {"bytevid", "video_pooling", "projector"}
    model = prepare_for_training(make_model(), QAModelArguments(freeze_video_encoder=True))
    assert {n.split(".")[0] for n, p in model.named_parameters() if p.requires_grad} == {
        "video_pooling", "projector", "language_model"}
    with pytest.raises(ValueError, match="contradict"):
        prepare_for_training(make_model(), QAModelArguments(freeze_lm=True, lora_r=4))


def test_finetune_learning_rate_defaults_to_1e_5(monkeypatch, tmp_path):
    from bytevid_hf.training import qa as qa_training

    seen = []
    monkeypatch.setattr(qa_training, "run_qa_finetuning", lambda m, d, t: seen.append((m, t)))
    base = ["--video_encoder", "e", "--language_model", "l", "--train_file", "x.jsonl", "--output_dir", str(tmp_path)]
    finetune_main(base)
    finetune_main([*base, "--learning_rate", "3e-4", "--lora_r", "8", "--freeze_lm"])
    assert seen[0][1].learning_rate == 1e-5 and seen[1][1].learning_rate == 3e-4
    assert seen[0][0].lora_r == 0 and not seen[0][0].freeze_lm and seen[1][0].lora_r == 8 and seen[1][0].freeze_lm


def test_finetune_and_evaluate_scripts_end_to_end(tmp_path, clips):
    encoder_dir, lm_dir = save_parts(tmp_path)
    videos = tmp_path / "videos"
    videos.mkdir()
    with open(tmp_path / "qa.jsonl", "w") as f:
        for i, clip in enumerate(clips[:4]):
            (videos / f"{i}.mp4").write_bytes(clip["video"])
            row = {"video": f"videos/{i}.mp4", "question": QUESTION, "answer": ANSWER_WORDS[clip["label"]]}
            if i % 2:
                row.update(choices=["no cuts", "one cut"], answer=ANSWER_WORDS[clip["label"]])
            f.write(json.dumps(row) + "\n")
    out = tmp_path / "out"
    common = ["--train_file", str(tmp_path / "qa.jsonl"), "--max_steps", "2", "--per_device_train_batch_size", "2",
              "--report_to", "none", "--save_strategy", "no", "--use_cpu", "--disable_tqdm", "true",
              "--max_video_bytes", str(VIDEO_BYTES), "--num_video_tokens", "4"]
    result = finetune_main(["--video_encoder", str(encoder_dir), "--language_model", str(lm_dir),
                            "--output_dir", str(out), *common])
    assert result.global_step == 2 and torch.isfinite(torch.tensor(result.training_loss))
    model = BytesVideoGemmaForQA.from_pretrained(out)
    assert model.config.num_video_tokens == 4 and model.config.video_token_id == 4
    processor = AutoProcessor.from_pretrained(out)
    assert processor.video_processor.max_length == VIDEO_BYTES
    metrics = evaluate_main(["--model_name_or_path", str(out), "--eval_file", str(tmp_path / "qa.jsonl"),
                             "--output_dir", str(tmp_path / "eval"), "--max_new_tokens", "4", "--device", "cpu"])
    assert metrics["num_open_ended"] == 2 and metrics["num_multiple_choice"] == 2
    predictions = [json.loads(line) for line in (tmp_path / "eval" / "predictions.jsonl").read_text().splitlines()]
    assert len(predictions) == 4 and all("prediction" in p for p in predictions)
    # The reported exact match is that of the written predictions, recomputed here from the definition (lowercase,
    # no punctuation, no articles, single spaces), and the rows with choices are the multiple-choice ones.

    def norm(text):
        words = "".join(" " if ch in string.punctuation else ch for ch in str(text).lower()).split()
        return " ".join(w for w in words if w not in ("a", "an", "the"))

    open_rows = [p for p in predictions if not p.get("choices")]  # None for an open-ended row
    assert len(open_rows) == 2
    expected = sum(norm(p["prediction"]) == norm(p["answer"]) for p in open_rows) / len(open_rows)
    assert metrics["exact_match"] == pytest.approx(expected)
    assert metrics["multiple_choice_accuracy"] in (0.0, 0.5, 1.0)  # two multiple-choice rows
    # LoRA run from the saved QA model: the adapter and the merged model are both written.
    lora_out = tmp_path / "lora"
    finetune_main(["--model_name_or_path", str(out), "--lora_r", "2", "--output_dir", str(lora_out), *common])
    assert (lora_out / "lora_adapter" / "adapter_config.json").is_file()
    assert isinstance(BytesVideoGemmaForQA.from_pretrained(lora_out), BytesVideoGemmaForQA)


def test_finetune_from_a_parquet_video_dataset(tmp_path, clips):
    """--dataset_name: a datasets dataset (here local Parquet with a Video column holding the encoded files, as on the
    Hub) feeds QA fine-tuning; the output holds processor, code and the QA card."""
    encoder_dir, lm_dir = save_parts(tmp_path)
    rows = {"video": [{"bytes": clip["video"], "path": f"{i}.mp4"} for i, clip in enumerate(clips[:4])],
            "question": [QUESTION] * 4, "answer": [ANSWER_WORDS[clip["label"]] for clip in clips[:4]]}
    features = datasets.Features({"video": datasets.Video(), "question": datasets.Value("string"),
                                  "answer": datasets.Value("string")})
    (tmp_path / "qa_data").mkdir()
    datasets.Dataset.from_dict(rows, features=features).to_parquet(str(tmp_path / "qa_data" / "train.parquet"))
    out = tmp_path / "out"
    result = finetune_main(["--video_encoder", str(encoder_dir), "--language_model", str(lm_dir),
                            "--dataset_name", str(tmp_path / "qa_data"), "--output_dir", str(out), "--max_steps", "1",
                            "--per_device_train_batch_size", "2", "--report_to", "none", "--save_strategy", "no",
                            "--use_cpu", "--disable_tqdm", "true", "--max_video_bytes", str(VIDEO_BYTES),
                            "--num_video_tokens", "4"])
    assert result.global_step == 1
    assert {"modeling_qa.py", "processing_qa.py", "processor_config.json", "README.md"} <= {p.name for p in out.iterdir()}
    assert "pipeline_tag: video-text-to-text" in (out / "README.md").read_text()
