"""Safe loading (issue 8.2): safetensors only unless pickle is explicitly allowed, config validation, and a named error
for a checkpoint whose tensor shapes do not match its config (issue 15.6: checked from the safetensors headers against
the model the config builds on the meta device, through public transformers API only)."""

from __future__ import annotations

import json
import os

import pytest
import torch
from transformers import AutoModel, AutoModelForVideoClassification, PreTrainedModel

from bytevid_hf import BytesVideoConfig, BytesVideoForClassification
from bytevid_hf.modeling import BytesVideoForCausalLM, BytesVideoForRGBReconstruction, BytesVideoModel
from bytevid_hf.modeling.safe_loading import (
    CheckpointShapeError,
    SafeLoadingMixin,
    UnsafeCheckpointError,
    check_checkpoint_shapes,
    checkpoint_tensor_shapes,
)


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # conftest.py


def _micro(cls=BytesVideoForClassification, **overrides):
    torch.manual_seed(0)
    return cls(BytesVideoConfig.from_preset("bytes-micro", num_labels=3, **overrides))


def _micro_qa():
    """BytesVideoGemmaForQA: a bytes-micro encoder + a 2-layer Gemma (hidden 32, MLP 64, vocabulary 300)."""
    from bytevid_hf.modeling import BytesVideoGemmaForQA
    from bytevid_hf.modeling.configuration_qa import BytesVideoGemmaConfig

    text = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1,
                head_dim=16, vocab_size=300, max_position_embeddings=512, pad_token_id=0, eos_token_id=1,
                bos_token_id=2)
    torch.manual_seed(0)
    config = BytesVideoGemmaConfig(video_config=BytesVideoConfig.from_preset("bytes-micro"), text_config=text,
                                   num_video_tokens=4, video_token_id=4)
    return BytesVideoGemmaForQA(config)


def _edit_config(folder, **changes):
    """Overwrite fields of folder/config.json; a dict value updates that sub-config (e.g. video_config={...})."""
    config = json.loads((folder / "config.json").read_text())
    for field, value in changes.items():
        if isinstance(value, dict):
            config[field].update(value)
        else:
            config[field] = value
    (folder / "config.json").write_text(json.dumps(config))


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
    _edit_config(tmp_path, state_size=4)  # the weights were trained with state_size 8
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
    _edit_config(tmp_path, pooling="maxpool")
    with pytest.raises(ValueError, match=r"BytesVideoConfig\.pooling must be one of .*'maxpool'"):
        BytesVideoForClassification.from_pretrained(tmp_path)


def test_qa_model_refuses_pickle_too(tmp_path):
    """BytesVideoGemmaForQA (bytes encoder + a 2-layer Gemma) shares the guard."""
    model = _micro_qa()
    folder = _pickle_checkpoint(tmp_path, model)
    with pytest.raises(UnsafeCheckpointError, match="pytorch_model.bin"):
        type(model).from_pretrained(folder)
    assert _same_weights(type(model).from_pretrained(folder, allow_pickle=True), model)


def test_mismatch_in_another_mixer_names_its_fields(tmp_path):
    """mixer_type="transformer": a checkpoint trained with another MLP width names attention_mlp_ratio."""
    model = _micro(mixer_type="transformer")
    model.save_pretrained(tmp_path)
    _edit_config(tmp_path, attention_mlp_ratio=model.config.attention_mlp_ratio + 1)
    with pytest.raises(CheckpointShapeError, match=r"mlp\.up_proj\.weight: checkpoint .*attention_mlp_ratio="):
        BytesVideoForClassification.from_pretrained(tmp_path)


def test_shape_check_runs_before_transformers_loads_without_a_private_hook(tmp_path, monkeypatch):
    """The check overrides no private transformers method (a rename there would silently turn it off): it reads the
    safetensors headers and the config before transformers' public from_pretrained is even called."""
    assert "_finalize_model_loading" not in SafeLoadingMixin.__dict__
    assert [name for name in vars(SafeLoadingMixin) if name.startswith("_") and not name.startswith("__")] == []
    _micro().save_pretrained(tmp_path)
    _edit_config(tmp_path, state_size=4)

    def transformers_load(cls, *args, **kwargs):
        raise AssertionError("transformers' from_pretrained was reached before the shape check")

    monkeypatch.setattr(PreTrainedModel, "from_pretrained", classmethod(transformers_load))
    with pytest.raises(CheckpointShapeError, match=r"mixer\.A_log: checkpoint \(48, 8\) vs config \(48, 4\)"):
        BytesVideoForClassification.from_pretrained(tmp_path)
    with pytest.raises(CheckpointShapeError, match="state_size=4"):  # the same check, called directly
        check_checkpoint_shapes(BytesVideoForClassification, tmp_path, {})


def test_shape_error_is_a_runtime_error_and_a_value_error(tmp_path):
    """transformers raises RuntimeError for mismatched sizes, so that is what callers catch; ValueError is kept for
    callers of earlier versions. Also through the auto classes (which pass a config object)."""
    assert issubclass(CheckpointShapeError, RuntimeError) and issubclass(CheckpointShapeError, ValueError)
    _micro().save_pretrained(tmp_path)
    for load in (BytesVideoForClassification.from_pretrained, AutoModelForVideoClassification.from_pretrained):
        try:
            load(tmp_path, num_labels=5)
        except RuntimeError as error:
            assert isinstance(error, CheckpointShapeError) and isinstance(error, ValueError)
            assert "classifier.weight: checkpoint (3, 192) vs config (5, 192)" in str(error)
        else:
            pytest.fail(f"{load.__qualname__}(num_labels=5) loaded a 3-label checkpoint")


@pytest.mark.parametrize("variant", [None, "v1"])
def test_sharded_checkpoint_with_edited_config_is_caught(tmp_path, variant):
    """model.safetensors.index.json (model.safetensors.index.v1.json for variant "v1") + 4 shards of ~500 KB: the
    shapes come from every shard's header."""
    model = _micro()
    model.save_pretrained(tmp_path, max_shard_size="500KB", variant=variant)
    index = tmp_path / ("model.safetensors.index.json" if variant is None else "model.safetensors.index.v1.json")
    assert len(set(json.loads(index.read_text())["weight_map"].values())) > 1
    assert not (tmp_path / "model.safetensors").exists()
    assert checkpoint_tensor_shapes(tmp_path, {"variant": variant}) == {
        name: tuple(tensor.shape) for name, tensor in model.state_dict().items()
    }
    assert _same_weights(BytesVideoForClassification.from_pretrained(tmp_path, variant=variant), model)
    _edit_config(tmp_path, state_size=4)
    with pytest.raises(CheckpointShapeError) as info:
        BytesVideoForClassification.from_pretrained(tmp_path, variant=variant)
    message = str(info.value)
    assert "bytevid.levels.0.0.mixer.A_log: checkpoint (48, 8) vs config (48, 4)" in message
    assert "bytevid.levels.3.0.mixer.A_log: checkpoint (384, 8) vs config (384, 4)" in message  # a later shard
    assert (variant is None) or f"variant='{variant}'" in message


def test_head_and_backbone_checkpoints_load_into_each_other(tmp_path):
    """transformers strips base_model_prefix ("bytevid") from a head's checkpoint for the bare backbone and adds it to
    a backbone checkpoint for a head; the classifier tensors (on one side only) are not shape mismatches."""
    classifier, backbone = _micro(), _micro(BytesVideoModel)
    classifier.save_pretrained(tmp_path / "head")
    backbone.save_pretrained(tmp_path / "bare")
    assert _same_weights(BytesVideoModel.from_pretrained(tmp_path / "head"), classifier.bytevid)
    assert _same_weights(BytesVideoForClassification.from_pretrained(tmp_path / "bare").bytevid, backbone)


@pytest.mark.parametrize(
    "saved, loader, name",
    [
        (BytesVideoForClassification, BytesVideoModel, "levels.0.0.mixer.A_log"),  # bytevid.* -> prefix stripped
        (BytesVideoModel, BytesVideoForClassification, "bytevid.levels.0.0.mixer.A_log"),  # prefix added
    ],
)
def test_edited_state_size_is_caught_between_head_and_backbone(tmp_path, saved, loader, name):
    _micro(saved).save_pretrained(tmp_path)
    _edit_config(tmp_path, state_size=4)
    with pytest.raises(CheckpointShapeError) as info:
        loader.from_pretrained(tmp_path)
    message = str(info.value)
    assert f"\n  {name}: checkpoint (48, 8) vs config (48, 4); its shape follows from" in message
    assert "state_size=4" in message and loader.__name__ in message and "classifier" not in message


def test_hub_repo_id_is_checked_from_the_cache(tmp_path):
    """A Hub repository id resolves through transformers.utils.cached_file; here from a local cache, offline."""
    cache = tmp_path / "cache"
    repo = cache / "models--bytevid-test--micro"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("0" * 40)
    model = _micro()
    model.save_pretrained(repo / "snapshots" / ("0" * 40))
    load = dict(cache_dir=cache, local_files_only=True)
    assert _same_weights(BytesVideoForClassification.from_pretrained("bytevid-test/micro", **load), model)
    with pytest.raises(CheckpointShapeError, match=r"bytevid-test/micro does not match.*\n.*num_labels=4"):
        BytesVideoForClassification.from_pretrained("bytevid-test/micro", num_labels=4, **load)


def test_qa_model_shape_mismatch_names_each_sub_config(tmp_path):
    """BytesVideoGemmaForQA (base_model_prefix ""): encoder tensors name the video_config fields; the Gemma tensors
    get no bytevid field hint (its "mlp." is not a bytevid MLP)."""
    model = _micro_qa()
    model.save_pretrained(tmp_path)
    assert _same_weights(type(model).from_pretrained(tmp_path), model)
    _edit_config(tmp_path, video_config={"state_size": 4}, text_config={"intermediate_size": 48})
    with pytest.raises(CheckpointShapeError) as info:
        type(model).from_pretrained(tmp_path)
    lines = str(info.value).splitlines()
    encoder = next(line for line in lines if "bytevid.levels.0.0.mixer.A_log" in line)
    assert "checkpoint (48, 8) vs config (48, 4)" in encoder and "state_size=4" in encoder
    gate = next(line for line in lines if "language_model.model.layers.0.mlp.gate_proj.weight" in line)
    assert gate.endswith("checkpoint (64, 32) vs config (48, 32)")
