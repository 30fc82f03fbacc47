"""``import bytevid_hf`` changes nothing for other models: transformers' pipelines, Auto-class tables and a
transformers model (VideoMAE) behave exactly as before the import, in a fresh interpreter."""

import json
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # conftest.py

SNAPSHOT = textwrap.dedent('''
    import json, sys
    import numpy as np
    import torch
    import transformers
    from transformers import VideoMAEConfig, VideoMAEForVideoClassification, VideoMAEImageProcessor, pipeline
    from transformers.models.auto import configuration_auto, modeling_auto, video_processing_auto
    from transformers.pipelines import PIPELINE_REGISTRY

    def snapshot():
        tables = {name: dict(getattr(modeling_auto, name)) for name in dir(modeling_auto)
                  if name.startswith("MODEL_") and name.endswith("_MAPPING_NAMES")}
        tables["CONFIG_MAPPING_NAMES"] = dict(configuration_auto.CONFIG_MAPPING_NAMES)
        tables["VIDEO_PROCESSOR_MAPPING_NAMES"] = {k: str(v) for k, v in
                                                   video_processing_auto.VIDEO_PROCESSOR_MAPPING_NAMES.items()}
        tasks = {task: repr(entry.get("impl")) for task, entry in PIPELINE_REGISTRY.supported_tasks.items()}
        methods = {f"{cls.__name__}.{name}": id(value)
                   for cls in (transformers.PreTrainedModel, transformers.PretrainedConfig, transformers.Pipeline)
                   for name, value in vars(cls).items()}
        return {"tables": tables, "tasks": tasks, "methods": methods}

    def videomae_run():
        torch.manual_seed(0)
        config = VideoMAEConfig(image_size=32, patch_size=16, num_frames=4, tubelet_size=2, hidden_size=32,
                                num_hidden_layers=1, num_attention_heads=2, intermediate_size=37, num_labels=3)
        model = VideoMAEForVideoClassification(config).eval()
        processor = VideoMAEImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
        pipe = pipeline("video-classification", model=model, image_processor=processor)
        frames = list(np.random.default_rng(0).integers(0, 256, (4, 32, 32, 3), dtype=np.uint8))
        with torch.no_grad():
            logits = model(**processor(frames, return_tensors="pt")).logits[0].tolist()
        return {"class": f"{type(pipe).__module__}.{type(pipe).__qualname__}", "logits": logits}

    before = snapshot(); run_before = videomae_run()
    import bytevid_hf
    after = snapshot(); run_after = videomae_run()
    changed = {kind: sorted(k for k in set(before[kind]) | set(after[kind]) if before[kind].get(k) != after[kind].get(k))
               for kind in before}
    print("RESULT:" + json.dumps({"changed": changed, "before": run_before, "after": run_after}))
''')


def test_importing_bytevid_hf_changes_no_other_model():
    proc = subprocess.run([sys.executable, "-c", SNAPSHOT], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    result = json.loads([line for line in proc.stdout.splitlines() if line.startswith("RESULT:")][-1][7:])
    assert result["changed"] == {"tables": [], "tasks": [], "methods": []}
    assert result["before"] == result["after"]
    assert result["after"]["class"] == "transformers.pipelines.video_classification.VideoClassificationPipeline"


def test_a_byte_model_runs_in_transformers_own_pipeline_and_opts_into_its_own(tmp_path, bikes_mp4):
    """Plain pipeline("video-classification") runs a bytevid checkpoint with transformers' class (no "not supported"
    error is logged by ours); pipeline_class=BytesVideoClassificationPipeline adds on_error, indexes and streaming —
    a video longer than streaming_threshold gives the logits of one forward, through model.stream."""
    import torch
    from transformers import pipeline
    from transformers.pipelines import VideoClassificationPipeline

    from bytevid_hf import BytesVideoConfig, BytesVideoForClassification, BytesVideoProcessor
    from bytevid_hf.pipelines import BytesVideoClassificationPipeline

    torch.manual_seed(0)
    config = BytesVideoConfig.from_preset("bytes-micro", num_labels=2, id2label={0: "a", 1: "b"},
                                          label2id={"a": 0, "b": 1}, streaming_chunk_size=4096)
    BytesVideoForClassification(config).save_pretrained(tmp_path)
    BytesVideoProcessor(max_length=30000, truncation=True).save_pretrained(tmp_path)
    plain = pipeline("video-classification", model=str(tmp_path))
    assert type(plain) is VideoClassificationPipeline
    ours = pipeline("video-classification", model=str(tmp_path), pipeline_class=BytesVideoClassificationPipeline)
    streaming = pipeline("video-classification", model=str(tmp_path), pipeline_class=BytesVideoClassificationPipeline,
                         streaming_threshold=10000)
    calls = []
    real_stream = streaming.model.stream
    streaming.model.stream = lambda *a, **k: calls.append(1) or real_stream(*a, **k)
    expected = plain(str(bikes_mp4), top_k=2)
    assert ours(str(bikes_mp4), top_k=2) == expected
    got = streaming(str(bikes_mp4), top_k=2)
    assert calls == [1] and [g["label"] for g in got] == [e["label"] for e in expected]
    for g, e in zip(got, expected):
        assert g["score"] == pytest.approx(e["score"], abs=1e-5)
