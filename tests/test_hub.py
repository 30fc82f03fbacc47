"""Publishing: export_checkpoint, remote code without bytevid_hf, Trainer-checkpoint conversion, model cards, LoRA
adapters, and push → fresh-process load → pipeline over real HTTP against ``tests/local_hub_server.py``."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
import yaml
from huggingface_hub import ModelCard

from bytevid_hf import BytesVideoConfig
from bytevid_hf.hub import (
    convert_trainer_checkpoint,
    export_checkpoint,
    find_trainer_checkpoint,
    pickle_files,
    push_adapter,
    push_checkpoint,
)
from bytevid_hf.training.lora import ssm_lora_config, ssm_lora_target_regex
from bytevid_hf.modeling import BytesVideoForClassification
from bytevid_hf.processing import BytesVideoProcessor

sys.path.insert(0, str(Path(__file__).parent))
from local_hub_server import LocalHubServer  # noqa: E402

TOKEN = "hf_local_test_token"
MAX_LENGTH = 4096
LABELS = {0: "bikes", 1: "carphone", 2: "other"}

# Prepended to scripts that must run as if bytevid_hf were not installed: every import of it fails.
BLOCK_BYTEVID = textwrap.dedent('''
    import importlib.abc, sys
    class _NoBytevid(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            if name == "bytevid_hf" or name.startswith("bytevid_hf."):
                raise ModuleNotFoundError(f"No module named {name!r} (bytevid_hf is blocked in this test)")
    sys.meta_path.insert(0, _NoBytevid())
''')


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # conftest.py


def tiny_classifier(seed: int = 0) -> BytesVideoForClassification:
    torch.manual_seed(seed)
    config = BytesVideoConfig.from_preset(
        "bytes-micro", num_labels=len(LABELS), id2label=LABELS, label2id={v: k for k, v in LABELS.items()}
    )
    return BytesVideoForClassification(config).eval()


def processor() -> BytesVideoProcessor:
    return BytesVideoProcessor(max_length=MAX_LENGTH, truncation=True)


def logits_of(model, video) -> list[float]:
    with torch.no_grad():
        return model(**processor()(str(video), return_tensors="pt")).logits[0].tolist()


def run_python(code: str, env: dict | None = None, block_bytevid: bool = False, timeout: int = 300) -> dict:
    """Run ``code`` in a fresh interpreter; it prints one JSON line prefixed with ``RESULT:``, returned parsed."""
    script = (BLOCK_BYTEVID if block_bytevid else "") + textwrap.dedent(code)
    full_env = {**os.environ, "HF_HUB_DISABLE_XET": "1", "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false",
                **(env or {})}
    for key in [k for k, v in full_env.items() if v is None]:
        del full_env[key]
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=timeout,
                            env=full_env, cwd="/")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    lines = [line for line in result.stdout.splitlines() if line.startswith("RESULT:")]
    assert lines, result.stdout[-2000:] + result.stderr[-2000:]
    return json.loads(lines[-1][len("RESULT:"):])


# --- remote code -------------------------------------------------------------------------------------------------


#: What a classifier checkpoint ships: the modules its model and processor import, and nothing else (no ablation mixers,
#: no sequence parallelism, no other heads). docs/models.md lists them.
CLASSIFIER_CODE = {
    "configuration_bytevid.py", "mixers.py", "modeling_bytevid.py", "byte_chunks.py", "cache.py", "mamba.py",
    "pooling.py", "safe_loading.py", "scan.py", "scan_c.py", "scan_c_source.py", "scan_torch.py", "scan_mamba_ssm.py",
    "scan_triton.py", "state_correction.py",
}
PROCESSOR_CODE = {
    "video_processor.py", "auto_registration.py", "deadline.py", "decode.py", "errors.py", "ffmpeg_logs.py",
    "frame_rate.py", "frame_size.py", "io.py", "jpeg.py", "transcode.py",
}


def test_processor_save_ships_its_code_without_a_lasting_registration(tmp_path):
    """A bytevid processor's own save_pretrained (what Trainer calls, also for in-training pushes) writes auto_map and
    exactly the processor's modules, and leaves the class unregistered afterwards."""
    processor().save_pretrained(tmp_path)
    config = json.loads((tmp_path / "video_preprocessor_config.json").read_text())
    assert config["auto_map"] == {"AutoVideoProcessor": "video_processor.BytesVideoProcessor"}
    assert {p.name for p in tmp_path.glob("*.py")} == PROCESSOR_CODE
    assert "_auto_class" not in BytesVideoProcessor.__dict__


def test_transformers_own_save_path_ships_working_remote_code(tmp_path, bikes_mp4):
    """register_for_auto_class + save_pretrained, exactly as transformers documents it for custom models: the folder
    holds only the modules the classifier and its processor run, and a process that cannot import bytevid_hf loads
    it with trust_remote_code=True and gets identical logits."""
    from bytevid_hf.hub import registered_for_auto_classes

    model = tiny_classifier(seed=2)
    pairs = [(BytesVideoConfig, "AutoConfig"), (BytesVideoForClassification, "AutoModelForVideoClassification"),
             (BytesVideoProcessor, "AutoVideoProcessor")]
    with registered_for_auto_classes(pairs):  # = cls.register_for_auto_class(name) for each, undone afterwards
        model.save_pretrained(tmp_path)
        processor().save_pretrained(tmp_path)
    assert {p.name for p in tmp_path.glob("*.py")} == CLASSIFIER_CODE | PROCESSOR_CODE
    assert "_auto_class" not in BytesVideoForClassification.__dict__  # the registration did not outlive the block
    got = run_python(f'''
        import json, sys, torch
        from transformers import AutoModelForVideoClassification, AutoVideoProcessor
        path, video = {str(tmp_path)!r}, {str(bikes_mp4)!r}
        proc = AutoVideoProcessor.from_pretrained(path, trust_remote_code=True)
        model = AutoModelForVideoClassification.from_pretrained(path, trust_remote_code=True).eval()
        with torch.no_grad():
            logits = model(**proc(video, return_tensors="pt")).logits[0].tolist()
        print("RESULT:" + json.dumps({{"logits": logits, "module": type(model).__module__,
                                       "leaked": "bytevid_hf" in sys.modules}}))
    ''', env={"HF_HOME": str(tmp_path / "hf_home")}, block_bytevid=True)
    assert got["module"].startswith("transformers_modules.") and not got["leaked"]
    assert got["logits"] == logits_of(model, bikes_mp4)  # identical, not merely close


def test_export_checkpoint_folder_is_complete_and_reloads(tmp_path, bikes_mp4):
    model = tiny_classifier()
    out = export_checkpoint(model, processor(), tmp_path / "export", {"eval_accuracy": 0.75, "eval_runtime": 3.2},
                            repo_id="user/bytevid-micro", max_shard_size="100KB", dataset_name="unit test")
    names = {p.name for p in out.iterdir()}
    assert "model.safetensors.index.json" in names and sum(n.startswith("model-000") for n in names) > 1  # sharded
    assert {"config.json", "video_preprocessor_config.json", "README.md", "eval_results.json"} <= names
    assert pickle_files(out) == []
    config = json.loads((out / "config.json").read_text())
    assert config["auto_map"]["AutoModelForVideoClassification"] == "modeling_bytevid.BytesVideoForClassification"
    assert json.loads((out / "video_preprocessor_config.json").read_text())["auto_map"] == {
        "AutoVideoProcessor": "video_processor.BytesVideoProcessor"}
    assert json.loads((out / "eval_results.json").read_text()) == {"accuracy": 0.75}  # throughput keys dropped
    reloaded = BytesVideoForClassification.from_pretrained(out).eval()
    assert logits_of(reloaded, bikes_mp4) == logits_of(model, bikes_mp4)
    with pytest.raises(FileExistsError, match="not empty"):
        export_checkpoint(model, processor(), out)
    with pytest.raises(ValueError, match="processor"):
        export_checkpoint(model, None, tmp_path / "other")


def test_remote_code_loads_without_bytevid_hf_installed(tmp_path, bikes_mp4):
    model = tiny_classifier(seed=1)
    out = export_checkpoint(model, processor(), tmp_path / "export")
    expected_ids = processor()(str(bikes_mp4), return_tensors="pt")["input_ids"][0].tolist()
    got = run_python(f'''
        import json, sys, torch
        from transformers import AutoModelForVideoClassification, AutoVideoProcessor, pipeline
        path, video = {str(out)!r}, {str(bikes_mp4)!r}
        proc = AutoVideoProcessor.from_pretrained(path, trust_remote_code=True)
        model = AutoModelForVideoClassification.from_pretrained(path, trust_remote_code=True).eval()
        inputs = proc(video, return_tensors="pt")
        with torch.no_grad():
            logits = model(**inputs).logits[0].tolist()
        preds = pipeline("video-classification", model=path, trust_remote_code=True)(video, top_k=3)
        print("RESULT:" + json.dumps({{"logits": logits, "ids": inputs["input_ids"][0].tolist(), "preds": preds,
                                       "module": type(model).__module__, "leaked": "bytevid_hf" in sys.modules}}))
    ''', env={"HF_HOME": str(tmp_path / "hf_home")}, block_bytevid=True)
    assert got["module"].startswith("transformers_modules.") and not got["leaked"]
    assert got["ids"] == expected_ids
    assert got["logits"] == logits_of(model, bikes_mp4)  # identical, not merely close
    probs = torch.softmax(torch.tensor(got["logits"]), -1)
    assert [p["label"] for p in got["preds"]] == [LABELS[int(i)] for i in probs.argsort(descending=True)]


# --- Trainer checkpoint conversion --------------------------------------------------------------------------------


def _train_briefly(output_dir: Path) -> BytesVideoForClassification:
    from datasets import Dataset
    from transformers import Trainer, TrainingArguments

    from bytevid_hf.training.metrics import classification_metrics

    torch.manual_seed(0)
    rows = [{"input_ids": torch.randint(0, 256, (256,), dtype=torch.uint8).tolist(), "labels": i % 3} for i in range(8)]
    model = tiny_classifier()
    args = TrainingArguments(output_dir=str(output_dir), max_steps=3, save_steps=3, per_device_train_batch_size=4,
                             learning_rate=1e-2, report_to="none", disable_tqdm=True, use_cpu=True, logging_steps=1,
                             eval_strategy="steps", eval_steps=3)
    trainer = Trainer(model=model, args=args, train_dataset=Dataset.from_list(rows),
                      eval_dataset=Dataset.from_list(rows[:4]), processing_class=processor(),
                      compute_metrics=classification_metrics())
    trainer.train()
    return model.eval()


def test_convert_trainer_checkpoint_keeps_logits_and_drops_training_state(tmp_path, bikes_mp4):
    model = _train_briefly(tmp_path / "run")
    checkpoint = find_trainer_checkpoint(tmp_path / "run")
    assert checkpoint.name == "checkpoint-3" and pickle_files(checkpoint)  # optimizer.pt, training_args.bin, ...
    out = convert_trainer_checkpoint(tmp_path / "run", tmp_path / "clean", repo_id="user/converted")
    assert pickle_files(out) == []
    assert not any(p.name.startswith(("optimizer", "scheduler", "rng_state", "trainer_state")) for p in out.iterdir())
    converted = BytesVideoForClassification.from_pretrained(out).eval()
    assert logits_of(converted, bikes_mp4) == logits_of(model, bikes_mp4)
    card = ModelCard((out / "README.md").read_text())
    state = json.loads((checkpoint / "trainer_state.json").read_text())
    last_eval = [e for e in state["log_history"] if "eval_accuracy" in e][-1]
    results = {r.metric_type: r.metric_value for r in card.data.eval_results}
    assert results == {"accuracy": round(last_eval["eval_accuracy"], 6), "loss": round(last_eval["eval_loss"], 6)}


# --- model cards ---------------------------------------------------------------------------------------------------


def test_model_cards_validate_for_classification_and_qa(tmp_path):
    from bytevid_hf.modeling.configuration_qa import BytesVideoGemmaConfig
    from bytevid_hf.hub.model_card import render_model_card

    config = tiny_classifier().config
    text = render_model_card(config, {"accuracy": 0.5, "f1": 0.25}, "user/cls", "kinetics-mini",
                             num_parameters=10, architecture="BytesVideoForClassification",
                             datasets=["user/kinetics-mini"], base_model="user/bytevid-pretrained")
    card = ModelCard(text)
    data = card.data.to_dict()
    assert data["library_name"] == "transformers" and data["pipeline_tag"] == "video-classification"
    assert data["license"] == "apache-2.0" and "bytevid" in data["tags"]
    assert data["datasets"] == ["user/kinetics-mini"] and data["base_model"] == "user/bytevid-pretrained"
    results = {r.metric_type: r.metric_value for r in card.data.eval_results}
    assert results == {"accuracy": 0.5, "f1": 0.25}
    assert card.data.eval_results[0].dataset_name == "kinetics-mini"
    assert 'pipeline("video-classification", model="user/cls", trust_remote_code=True)' in text
    assert "@misc{" in text and "Intended use and limitations" in text

    gemma = {"model_type": "gemma3_text", "vocab_size": 64, "hidden_size": 16, "intermediate_size": 32,
             "num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 1, "head_dim": 8}
    qa_config = BytesVideoGemmaConfig(video_config=BytesVideoConfig.from_preset("bytes-micro").to_dict(),
                                      text_config=gemma, video_token_id=5)
    qa = ModelCard(render_model_card(qa_config, {"exact_match": 0.4}, "user/qa", base_model="google/gemma-3-1b-it"))
    assert qa.data.pipeline_tag == "video-text-to-text" and qa.data.base_model == "google/gemma-3-1b-it"
    assert qa.data.eval_results[0].metric_type == "exact_match"
    front = yaml.safe_load(str(qa).split("---")[1])
    assert front["model-index"][0]["results"][0]["task"]["type"] == "video-text-to-text"
    with pytest.raises(ValueError, match="finite"):
        render_model_card(config, {"accuracy": float("nan")})


# --- LoRA ----------------------------------------------------------------------------------------------------------


def test_lora_target_regex_selects_only_mamba_projections():
    from peft import get_peft_model

    with pytest.raises(ValueError, match="conv1d"):
        ssm_lora_target_regex(["conv1d"])
    regex = ssm_lora_target_regex(levels=[1])
    assert re.fullmatch(regex, "bytevid.levels.1.0.mixer.in_proj")
    assert not re.fullmatch(regex, "bytevid.levels.0.0.mixer.in_proj")
    peft_model = get_peft_model(tiny_classifier(), ssm_lora_config(r=2))
    adapted = {n.split(".lora_A")[0] for n, _ in peft_model.named_parameters() if "lora_A" in n}
    expected = {f"base_model.model.bytevid.levels.{i}.0.mixer.{m}"
                for i in range(4) for m in ("in_proj", "x_proj", "dt_proj", "out_proj")}
    assert adapted == expected


def _trained_lora(base: BytesVideoForClassification):
    from peft import get_peft_model

    peft_model = get_peft_model(base, ssm_lora_config(r=4, modules_to_save=["classifier"]))
    optimizer = torch.optim.AdamW([p for p in peft_model.parameters() if p.requires_grad], lr=5e-2)
    torch.manual_seed(3)
    ids = torch.randint(0, 256, (4, 512), dtype=torch.uint8)
    for _ in range(3):
        loss = peft_model(input_ids=ids, labels=torch.tensor([0, 1, 2, 0])).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    return peft_model.eval()


# --- end to end over HTTP ------------------------------------------------------------------------------------------


@pytest.fixture
def hub(tmp_path, monkeypatch):
    with LocalHubServer(tokens=(TOKEN,)) as server:
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        monkeypatch.setenv("HF_TOKEN", TOKEN)
        monkeypatch.setenv("HF_HUB_DISABLE_XET", "1")
        monkeypatch.setenv("HF_HOME", str(tmp_path / "pusher_home"))
        monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)  # CI runs offline; this "Hub" is local
        monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
        import datasets.config
        import huggingface_hub.constants as constants

        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
        monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", False)  # datasets keeps its own copy

        # huggingface_hub reads HF_ENDPOINT once, at import: point this process's copies at the server too
        monkeypatch.setattr(constants, "ENDPOINT", server.url)
        monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", server.url + "/{repo_id}/resolve/{revision}/{filename}")
        monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)
        monkeypatch.setattr(datasets.config, "HF_ENDPOINT", server.url)  # and datasets its own copies
        monkeypatch.setattr(datasets.config, "HUB_DATASETS_URL",
                            server.url + "/datasets/{repo_id}/resolve/{revision}/{path}")
        import transformers.utils.hub

        monkeypatch.setattr(transformers.utils.hub, "_hf_api", None)  # its shared HfApi keeps the endpoint it was made with
        yield server


def test_push_then_fresh_process_loads_by_repo_id_and_works_offline(tmp_path, hub, bikes_mp4, carphone_mp4):
    model = tiny_classifier(seed=2)
    info = push_checkpoint(model, "user/bytevid-micro", processor(), metrics={"accuracy": 0.5},
                           commit_message="first upload", dataset_name="unit test", max_shard_size="200KB")
    assert info.oid and ("POST", "/api/models/user/bytevid-micro/commit/main", 200) in hub.requests
    assert any(method == "PUT" and path.startswith("/lfs-upload/") for method, path, _ in hub.requests)  # git-LFS
    load = f'''
        import json, torch, bytevid_hf
        from transformers import AutoModelForVideoClassification, pipeline
        model = AutoModelForVideoClassification.from_pretrained("user/bytevid-micro").eval()
        clf = pipeline("video-classification", model="user/bytevid-micro")
        out = {{"logits": [], "top": []}}
        for video in ({str(bikes_mp4)!r}, {str(carphone_mp4)!r}):
            inputs = clf.video_processor(video, return_tensors="pt")
            with torch.no_grad():
                out["logits"].append(model(**inputs).logits[0].tolist())
            out["top"].append(clf(video, top_k=1)[0]["label"])
        print("RESULT:" + json.dumps(out))
    '''
    env = {"HF_ENDPOINT": hub.url, "HF_HOME": str(tmp_path / "reader_home"), "HF_TOKEN": None}
    online = run_python(load, env)
    expected = [logits_of(model, v) for v in (bikes_mp4, carphone_mp4)]
    assert online["logits"] == expected
    assert online["top"] == [LABELS[int(torch.tensor(row).argmax())] for row in expected]
    served = len(hub.requests)
    offline = run_python(load, {**env, "HF_HUB_OFFLINE": "1"})
    assert offline == online and len(hub.requests) == served  # answered from the cache, no request reached the server

    # The model card's own snippets work as written, from the Hub, with bytevid_hf blocked (remote code over HTTP).
    card = (Path(tmp_path) / "card.md")
    from huggingface_hub import hf_hub_download

    card.write_text(Path(hf_hub_download("user/bytevid-micro", "README.md", cache_dir=tmp_path / "c")).read_text())
    snippets = re.findall(r"```python\n(.*?)```", card.read_text(), flags=re.S)
    assert len(snippets) == 2
    code = "\n".join(s.replace('"video.mp4"', repr(str(bikes_mp4))) for s in snippets)
    code = code.replace("print(", "_ = (") + '\nprint("RESULT:" + json.dumps(logits[0].tolist()))\nimport json\n'
    code = "import json\n" + code
    snippet_logits = run_python(code, {**env, "HF_HOME": str(tmp_path / "snippet_home")}, block_bytevid=True)
    assert snippet_logits == expected[0]


def test_private_repo_and_branch_push(tmp_path, hub, bikes_mp4):
    model = tiny_classifier(seed=4)
    push_checkpoint(model, "user/private-micro", processor(), private=True, revision="experiment",
                    commit_message="on a branch")
    got = run_python(f'''
        import json, bytevid_hf
        from transformers import AutoModelForVideoClassification

        def load(revision, token, cache):
            try:
                AutoModelForVideoClassification.from_pretrained("user/private-micro", revision=revision, token=token,
                                                                cache_dir={str(tmp_path)!r} + "/" + cache)
                return "loaded"
            except (OSError, ValueError) as exc:
                return type(exc).__name__ + ": " + str(exc)[:200]

        print("RESULT:" + json.dumps([load("experiment", {TOKEN!r}, "a"), load("experiment", False, "b"),
                                      load("main", {TOKEN!r}, "c")]))
    ''', {"HF_ENDPOINT": hub.url, "HF_HOME": str(tmp_path / "reader_home"), "HF_TOKEN": None})
    with_token, without_token, main = got
    assert with_token == "loaded"
    assert without_token != "loaded" and "not" in without_token.lower()  # invisible without the token
    assert main != "loaded"  # the weights went to the branch, not to main
    repo = hub.hub.repos[("model", "user/private-micro")]
    assert repo.private and "config.json" not in repo.commits[repo.branches["main"]].files
    assert repo.commits[repo.branches["experiment"]].message == "on a branch"


def test_lora_adapter_push_load_and_merge(tmp_path, hub):
    base = tiny_classifier(seed=5)
    push_checkpoint(base, "user/base-micro", processor())
    adapted = _trained_lora(tiny_classifier(seed=5))
    ids = torch.randint(0, 256, (2, 700), generator=torch.Generator().manual_seed(9), dtype=torch.uint8)
    with torch.no_grad():
        expected = adapted(input_ids=ids).logits
        assert not torch.allclose(expected, base(input_ids=ids).logits, atol=1e-4)  # the adapter changed the model
    push_adapter(adapted, "user/lora-micro")
    got = run_python(f'''
        import json, torch, bytevid_hf
        from peft import PeftModel
        from transformers import AutoModelForVideoClassification
        ids = torch.tensor({ids.tolist()!r}, dtype=torch.uint8)
        base = AutoModelForVideoClassification.from_pretrained("user/base-micro")
        loaded = PeftModel.from_pretrained(base, "user/lora-micro").eval()
        with torch.no_grad():
            adapted = loaded(input_ids=ids).logits.tolist()
            merged = loaded.merge_and_unload().eval()
            merged_logits = merged(input_ids=ids).logits
        merged.save_pretrained({str(tmp_path / "merged")!r})
        reloaded = type(merged).from_pretrained({str(tmp_path / "merged")!r}).eval()
        with torch.no_grad():
            same = torch.equal(reloaded(input_ids=ids).logits, merged_logits)
        print("RESULT:" + json.dumps({{"adapted": adapted, "merged": merged_logits.tolist(), "reload_same": same,
                                       "merged_type": type(merged).__name__}}))
    ''', {"HF_ENDPOINT": hub.url, "HF_HOME": str(tmp_path / "reader_home")})
    # PeftModel.from_pretrained over HTTP reproduces the trained adapter (to float32 rounding: ~2e-7 relative)
    torch.testing.assert_close(torch.tensor(got["adapted"]), expected, atol=1e-5, rtol=1e-6)
    assert got["merged_type"] == "BytesVideoForClassification"  # merged back into the plain model class
    torch.testing.assert_close(torch.tensor(got["merged"]), expected, atol=2e-5, rtol=1e-5)
    assert got["reload_same"]


def test_push_to_hub_script_converts_a_trainer_run(tmp_path, hub):
    _train_briefly(tmp_path / "run")
    cmd = [sys.executable, str(Path(__file__).parents[1] / "scripts" / "push_to_hub.py"), str(tmp_path / "run"),
           "--repo_id", "user/from-script", "--revision", "v1", "--commit_message", "from the script",
           "--dataset_name", "random bytes"]
    env = {**os.environ, "HF_ENDPOINT": hub.url, "HF_TOKEN": TOKEN, "HF_HUB_DISABLE_XET": "1",
           "HF_HOME": str(tmp_path / "script_home")}
    result = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    repo = hub.hub.repos[("model", "user/from-script")]
    head = repo.commits[repo.branches["v1"]]
    assert head.message == "from the script"
    assert {"model.safetensors", "config.json", "video_preprocessor_config.json", "README.md",
            "modeling_bytevid.py"} <= set(head.files)
    assert not any(name.endswith((".bin", ".pt", ".pth")) for name in head.files)
    assert "random bytes" in head.files["README.md"].data.decode()


def test_qa_checkpoint_exports_and_generates_without_bytevid_hf(tmp_path, bikes_mp4):
    from test_qa import VIDEO_BYTES, make_model, make_tokenizer

    from bytevid_hf.processing import BytesVideoQAProcessor

    model = make_model(seed=7).eval()
    qa_processor = BytesVideoQAProcessor(BytesVideoProcessor(max_length=VIDEO_BYTES), make_tokenizer(),
                                         num_video_tokens=4)
    out = export_checkpoint(model, qa_processor, tmp_path / "qa", {"exact_match": 0.25}, repo_id="user/qa",
                            base_model="google/gemma-3-1b-it")
    card = ModelCard((out / "README.md").read_text())
    assert card.data.pipeline_tag == "video-text-to-text" and card.data.eval_results[0].metric_value == 0.25
    question = "What happens in the video?"
    inputs = qa_processor(videos=str(bikes_mp4), text=question, return_tensors="pt")
    expected = model.generate(**inputs, max_new_tokens=4, do_sample=False).tolist()
    snippet = re.findall(r"```python\n(.*?)```", (out / "README.md").read_text(), flags=re.S)[0]
    snippet = snippet.replace('"user/qa"', repr(str(out))).replace('"video.mp4"', repr(str(bikes_mp4)))
    snippet = snippet.replace("max_new_tokens=16", "max_new_tokens=4, do_sample=False").replace("print(", "_ = (")
    got = run_python("import json\n" + snippet + '\nprint("RESULT:" + json.dumps({"ids": answer_ids.tolist(), '
                     '"module": type(model).__module__}))\n', {"HF_HOME": str(tmp_path / "hf_home")},
                     block_bytevid=True)
    assert got["module"].startswith("transformers_modules.")
    assert got["ids"] == expected  # the card's snippet, run with remote code only, generates the same tokens


def test_push_to_hub_script_pushes_an_adapter_and_refuses_pickles(tmp_path, hub):
    from peft import get_peft_model

    get_peft_model(tiny_classifier(), ssm_lora_config(r=2)).save_pretrained(tmp_path / "adapter")
    script = str(Path(__file__).parents[1] / "scripts" / "push_to_hub.py")
    env = {**os.environ, "HF_ENDPOINT": hub.url, "HF_TOKEN": TOKEN, "HF_HUB_DISABLE_XET": "1",
           "HF_HOME": str(tmp_path / "script_home")}
    result = subprocess.run([sys.executable, script, str(tmp_path / "adapter"), "--repo_id", "user/lora", "--adapter"],
                            capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    repo = hub.hub.repos[("model", "user/lora")]
    assert {"adapter_config.json", "adapter_model.safetensors"} <= set(repo.commits[repo.branches["main"]].files)
    torch.save({}, tmp_path / "adapter" / "extra.bin")  # a pickle file in the folder: nothing is uploaded
    result = subprocess.run([sys.executable, script, str(tmp_path / "adapter"), "--repo_id", "user/lora2", "--adapter"],
                            capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode != 0 and "extra.bin" in result.stderr and "safetensors only" in result.stderr
    assert ("model", "user/lora2") not in hub.hub.repos


# --- Trainer and model.push_to_hub --------------------------------------------------------------------------------


def _class_folder(root: Path, samples: dict[str, Path], copies: int = 2) -> Path:
    for name, src in samples.items():
        (root / name).mkdir(parents=True)
        for i in range(copies):
            (root / name / f"{i}.mp4").write_bytes(src.read_bytes()[: 2500 + 400 * i])
    return root


def _head_files(hub, repo_id: str) -> dict:
    repo = hub.hub.repos[("model", repo_id)]
    return repo.commits[repo.branches["main"]].files


def test_run_finetuning_push_to_hub_loads_in_a_fresh_process_without_bytevid(tmp_path, hub, bikes_mp4, carphone_mp4):
    """scripts/finetune.py --push_to_hub: run_finetuning's Trainer (given the processor) pushes model, processor, their
    code and the package's card; a fresh process where bytevid_hf cannot be imported classifies a real mp4 with
    pipeline(model="user/repo") and gets the scores of the trained model."""
    from transformers import TrainingArguments, pipeline

    from bytevid_hf.training.finetune import DataArguments, ModelArguments, run_finetuning

    root = _class_folder(tmp_path / "videos", {"bikes": bikes_mp4, "carphone": carphone_mp4})
    args = TrainingArguments(output_dir=str(tmp_path / "out"), push_to_hub=True, hub_model_id="user/finetuned",
                             max_steps=2, per_device_train_batch_size=2, learning_rate=1e-3, report_to="none",
                             save_strategy="no", disable_tqdm=True, use_cpu=True, seed=0)
    metrics = run_finetuning(ModelArguments(preset="bytes-micro"),
                             DataArguments(data_dir=str(root), max_length=2048, validation_fraction=0.5), args)
    files = _head_files(hub, "user/finetuned")
    assert pickle_files(tmp_path / "out") and not any(name.endswith((".bin", ".pt", ".pth")) for name in files)
    assert CLASSIFIER_CODE | PROCESSOR_CODE | {"model.safetensors", "config.json", "video_preprocessor_config.json",
                                                "README.md"} <= set(files)
    card = ModelCard(files["README.md"].data.decode())
    assert card.data.pipeline_tag == "video-classification" and card.data.library_name == "transformers"
    assert {r.metric_type: r.metric_value for r in card.data.eval_results}["accuracy"] == \
        round(metrics["eval_accuracy"], 6)
    assert 'pipeline("video-classification", model="user/finetuned", trust_remote_code=True)' in card.text
    # trainer.save_model's folder is the same checkpoint: pipeline(model=output_dir) in this process
    local = pipeline("video-classification", model=str(tmp_path / "out"))(str(bikes_mp4), top_k=2)

    got = run_python(f'''
        import json, sys
        from transformers import pipeline
        clf = pipeline("video-classification", model="user/finetuned", trust_remote_code=True)
        print("RESULT:" + json.dumps({{"preds": clf({str(bikes_mp4)!r}, top_k=2), "leaked": "bytevid_hf" in sys.modules,
                                       "module": type(clf.model).__module__}}))
    ''', {"HF_ENDPOINT": hub.url, "HF_HOME": str(tmp_path / "reader_home"), "HF_TOKEN": None}, block_bytevid=True)
    assert got["module"].startswith("transformers_modules.") and not got["leaked"]
    assert [p["label"] for p in got["preds"]] == [p["label"] for p in local]
    assert [p["score"] for p in got["preds"]] == pytest.approx([p["score"] for p in local], abs=1e-6)


def test_model_push_to_hub_gives_the_package_card_and_code(tmp_path, hub):
    """With bytevid_hf imported, model.push_to_hub publishes like push_checkpoint (card, auto_map, code), and
    processor.push_to_hub ships the processor's code; the repo holds the same files as push_checkpoint's."""
    model = tiny_classifier(seed=6)
    processor().push_to_hub("user/direct")
    model.push_to_hub("user/direct", commit_message="model.push_to_hub", tags=["demo"])
    push_checkpoint(model, "user/reference", processor())
    direct, reference = _head_files(hub, "user/direct"), _head_files(hub, "user/reference")
    assert set(direct) == set(reference)
    card = ModelCard(direct["README.md"].data.decode())
    assert card.data.pipeline_tag == "video-classification" and card.data.library_name == "transformers"
    assert "demo" in card.data.tags and "bytevid" in card.data.tags
    config = json.loads(direct["config.json"].data)
    assert config["auto_map"]["AutoModelForVideoClassification"] == "modeling_bytevid.BytesVideoForClassification"
    assert json.loads(direct["video_preprocessor_config.json"].data)["auto_map"] == {
        "AutoVideoProcessor": "video_processor.BytesVideoProcessor"}
    assert "_auto_class" not in BytesVideoForClassification.__dict__  # registrations were undone
    assert "_auto_class" not in BytesVideoProcessor.__dict__


def test_in_training_pushes_carry_card_and_code_and_the_final_push_drops_pickles(tmp_path, hub):
    """hub_strategy="every_save": each in-training push (transformers' own, with its training_args.bin) already loads
    (card, code, processor); trainer.push_to_hub() at the end deletes the pickle from the repo."""
    from datasets import Dataset
    from transformers import TrainingArguments

    from bytevid_hf.training.finetune import BytesVideoCollator
    from bytevid_hf.training.trainer import BytesVideoTrainer

    torch.manual_seed(0)
    rows = [{"video": torch.randint(0, 256, (256,), dtype=torch.uint8).numpy().tobytes(), "label": i % 3}
            for i in range(8)]
    args = TrainingArguments(output_dir=str(tmp_path / "run"), max_steps=1, save_steps=1, per_device_train_batch_size=4,
                             report_to="none", use_cpu=True, disable_tqdm=True, push_to_hub=True,
                             hub_model_id="user/every-save", hub_strategy="every_save", remove_unused_columns=False)
    trainer = BytesVideoTrainer(model=tiny_classifier(), args=args, train_dataset=Dataset.from_list(rows),
                                data_collator=BytesVideoCollator(processor()), processing_class=processor())
    trainer.train()
    trainer._finish_current_push()
    repo = hub.hub.repos[("model", "user/every-save")]
    in_training = repo.commits[repo.branches["main"]]
    assert in_training.message == "Training in progress, step 1"
    assert CLASSIFIER_CODE | PROCESSOR_CODE | {"README.md", "training_args.bin"} <= set(in_training.files)
    trainer.push_to_hub()
    final = repo.commits[repo.branches["main"]].files
    assert CLASSIFIER_CODE | PROCESSOR_CODE | {"README.md", "model.safetensors"} <= set(final)
    assert "training_args.bin" not in final
    assert ModelCard(final["README.md"].data.decode()).data.pipeline_tag == "video-classification"
