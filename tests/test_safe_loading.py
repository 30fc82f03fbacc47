"""Safe loading (issue 8.2): safetensors only unless pickle is explicitly allowed, config validation, and a named error
for a checkpoint whose tensor shapes do not match its config."""

from __future__ import annotations

import json
import os

import pytest
import torch
from transformers import AutoModel, AutoModelForVideoClassification

from bytevid_hf import BytesVideoConfig, BytesVideoForClassification
from bytevid_hf.modeling import BytesVideoForCausalLM, BytesVideoForRGBReconstruction, BytesVideoModel
from bytevid_hf.modeling.safe_loading import CheckpointShapeError, UnsafeCheckpointError


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # conftest.py


def _micro(cls=BytesVideoForClassification, **overrides):
    torch.manual_seed(0)
    return cls(BytesVideoConfig.from_preset("bytes-micro", num_labels=3, **overrides))


def _pickle_checkpoint(tmp_path, model):
    """A checkpoint folder as older transformers wrote it: config.json + pytorch_model.bin (a torch.save pickle)."""
    model.save_pretrained(tmp_path)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    os.remove(tmp_path / "model.safetensors")
    torch.save(state, tmp_path / "pytorch_model.bin")
    return tmp_path


def _same_weights(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.mark.parametrize("cls", [BytesVideoForClassification, BytesVideoModel, BytesVideoForCausalLM,
                                 BytesVideoForRGBReconstruction])
def test_pickle_checkpoint_refused_unless_allowed(tmp_path, cls):
    model = _micro(cls)
    folder = _pickle_checkpoint(tmp_path, model)
    with pytest.raises(UnsafeCheckpointError, match=r"pytorch_model\.bin.*arbitrary code.*allow_pickle=True"):
        cls.from_pretrained(folder)
    with pytest.raises(UnsafeCheckpointError, match="use_safetensors=False"):
        cls.from_pretrained(folder, use_safetensors=False)
    loaded = cls.from_pretrained(folder, allow_pickle=True)  # explicit opt-in: transformers' weights_only load
    assert _same_weights(loaded, model)


def test_pickle_refused_through_auto_classes_and_file_paths(tmp_path):
    model = _micro()
    folder = _pickle_checkpoint(tmp_path, model)
    with pytest.raises(UnsafeCheckpointError, match="pytorch_model.bin"):
        AutoModelForVideoClassification.from_pretrained(folder)
    with pytest.raises(UnsafeCheckpointError, match="pytorch_model.bin"):
        AutoModel.from_pretrained(folder)
    assert _same_weights(AutoModelForVideoClassification.from_pretrained(folder, allow_pickle=True), model)
    with pytest.raises(UnsafeCheckpointError, match=r"model\.pt.*not a safetensors file"):
        BytesVideoForClassification.from_pretrained(_renamed(folder, "model.pt"))


def _renamed(folder, name):
    target = folder / name
    torch.save({"weights": torch.zeros(1)}, target)
    return str(target)


def test_safetensors_preferred_and_pickle_ignored_when_both_exist(tmp_path):
    """A folder with model.safetensors and a (possibly planted) pytorch_model.bin loads the safetensors file and never
    unpickles the .bin: the .bin here is not even a valid pickle."""
    model = _micro()
    model.save_pretrained(tmp_path)
    (tmp_path / "pytorch_model.bin").write_bytes(b"not a pickle at all")
    assert _same_weights(BytesVideoForClassification.from_pretrained(tmp_path), model)


def test_checkpoint_with_other_shapes_names_parameter_shapes_and_config_fields(tmp_path):
    model = _micro()
    model.save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    config["state_size"] = 4  # the weights were trained with state_size 8
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointShapeError) as info:
        BytesVideoForClassification.from_pretrained(tmp_path)
    message = str(info.value)
    assert "bytevid.levels.0.0.mixer.A_log: checkpoint (48, 8) vs config (48, 4)" in message
    assert "state_size=4" in message and "x_proj.weight" in message and str(tmp_path) in message
    # transformers' own escape hatch still works: re-initialise the mismatched tensors
    loaded = BytesVideoForClassification.from_pretrained(tmp_path, ignore_mismatched_sizes=True)
    assert loaded.bytevid.levels[0][0].mixer.A_log.shape == (48, 4)


def test_head_size_mismatch_names_num_labels(tmp_path):
    _micro().save_pretrained(tmp_path)
    with pytest.raises(CheckpointShapeError, match=r"classifier\.weight: checkpoint \(3, 192\) vs config \(5, 192\).*num_labels=5"):
        BytesVideoForClassification.from_pretrained(tmp_path, num_labels=5)
    assert BytesVideoForClassification.from_pretrained(tmp_path, num_labels=5, ignore_mismatched_sizes=True).num_labels == 5


def test_matching_checkpoint_round_trips(tmp_path):
    model = _micro(pooling="attention")
    model.save_pretrained(tmp_path)
    assert _same_weights(BytesVideoForClassification.from_pretrained(tmp_path), model)


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"pool_size": 1}, "pool_size"),
        ({"pool_size": 0}, "pool_size"),
        ({"pooling": "max"}, "pooling"),
        ({"ssm_backend": "jax"}, "ssm_backend"),
        ({"hidden_size": 0}, "hidden_size"),
        ({"hidden_act": "not-an-activation"}, "hidden_act"),
        ({"time_step_min": 0.2, "time_step_max": 0.1}, "time_step_min"),
        ({"layer_norm_epsilon": 0.0}, "layer_norm_epsilon"),
        ({"classifier_dropout": 1.5}, "classifier_dropout"),
        ({"vocab_size": 512}, "vocab_size"),
    ],
)
def test_config_validation_names_the_field(overrides, field):
    with pytest.raises(ValueError, match=rf"BytesVideoConfig\.{field}"):
        BytesVideoConfig(**overrides)


def test_edited_config_json_is_validated_on_load(tmp_path):
    _micro().save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    config["pooling"] = "maxpool"
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match=r"BytesVideoConfig\.pooling must be one of .*'maxpool'"):
        BytesVideoForClassification.from_pretrained(tmp_path)


def test_qa_model_refuses_pickle_too(tmp_path):
    """BytesVideoGemmaForQA (bytes encoder + a 2-layer Gemma) shares the guard."""
    from bytevid_hf.modeling.configuration_qa import BytesVideoGemmaConfig
    from bytevid_hf.modeling import BytesVideoGemmaForQA

    text = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1,
                head_dim=16, vocab_size=300, max_position_embeddings=512, pad_token_id=0, eos_token_id=1,
                bos_token_id=2)
    torch.manual_seed(0)
    config = BytesVideoGemmaConfig(video_config=BytesVideoConfig.from_preset("bytes-micro"), text_config=text,
                                   num_video_tokens=4, video_token_id=4)
    model = BytesVideoGemmaForQA(config)
    folder = _pickle_checkpoint(tmp_path, model)
    with pytest.raises(UnsafeCheckpointError, match="pytorch_model.bin"):
        BytesVideoGemmaForQA.from_pretrained(folder)
    assert _same_weights(BytesVideoGemmaForQA.from_pretrained(folder, allow_pickle=True), model)


def test_mismatch_in_another_mixer_names_its_fields(tmp_path):
    """mixer_type="transformer": a checkpoint trained with another MLP width names attention_mlp_ratio."""
    _micro(mixer_type="transformer").save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    config["attention_mlp_ratio"] += 1
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointShapeError, match=r"mlp\.up_proj\.weight: checkpoint .*attention_mlp_ratio="):
        BytesVideoForClassification.from_pretrained(tmp_path)
