"""Argument dataclasses of the training commands, and the choice lists their options take.

This module imports nothing but the standard library, so ``bytevid <command> --help`` (``bytevid_hf.cli``) builds its
help and checks choices without loading torch or transformers. The same dataclasses are what transformers'
``HfArgumentParser`` parses (a ``choices`` entry in a field's metadata reaches argparse there too) and what the
``run_*`` functions take; ``__post_init__`` checks the choices again, so a config file or Python caller gets the same
error naming the field.

The choice lists mirror the model code (``bytevid_hf.modeling`` must not import this package):
``tests/test_cli.py`` checks that they agree.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

#: ``BytesVideoConfig.from_preset`` names (``bytevid_hf.modeling.configuration_bytevid.PRESETS``).
PRESET_NAMES = ("bytes-micro", "bytes-tiny", "bytes-base", "bytes-large")
#: ``BytesVideoConfig.pooling`` values (``configuration_bytevid.POOLING_METHODS``).
POOLING_METHODS = ("concat", "average", "attention")
#: ``BytesVideoConfig.ssm_backend`` values (``configuration_bytevid.SSM_BACKENDS``).
SSM_BACKENDS = ("auto", "c", "torch", "triton", "mamba_ssm")
#: ``PretrainedConfig.problem_type`` values of a classifier.
PROBLEM_TYPES = ("single_label_classification", "multi_label_classification", "regression")
#: Pre-training objectives: next-byte prediction, RGB reconstruction (on videos), image classification on JPEG bytes.
OBJECTIVES = ("next-byte", "rgb", "jpeg-classification")
#: Which window of a longer video next-byte pre-training reads.
CROP_MODES = ("random", "start")
#: Attention projections of the Gemma decoder layers that ``--lora_r`` adapts.
DEFAULT_LORA_TARGETS = "q_proj,k_proj,v_proj,o_proj"
#: Video-QA fine-tuning learning rate when ``--learning_rate`` is not given.
DEFAULT_QA_LEARNING_RATE = 1e-5


def check_choices(arguments) -> None:
    """Raise ``ValueError`` naming the field when a field with ``metadata["choices"]`` holds another value."""
    for f in dataclasses.fields(arguments):
        choices = f.metadata.get("choices")
        value = getattr(arguments, f.name)
        if choices and value is not None and value not in choices:
            raise ValueError(f"{type(arguments).__name__}.{f.name} (--{f.name}) must be one of {list(choices)}, "
                             f"got {value!r}")


def _choice(default, choices, help_text):
    return field(default=default, metadata={"help": help_text, "choices": choices})


# ---------------------------------------------------------------------------------------------------------------------
# bytevid finetune
# ---------------------------------------------------------------------------------------------------------------------
@dataclass
class ModelArguments:
    """Which model to fine-tune."""

    model_name_or_path: str | None = field(
        default=None, metadata={"help": "A saved bytevid checkpoint (dir) to start from: its encoder; its head only if "
                                        "it classifies the same labels; the videos are read as encoded bytes even "
                                        "after JPEG pre-training. Mutually exclusive with --preset."}
    )
    preset: str = _choice("bytes-micro", PRESET_NAMES, "Build a fresh model from this architecture preset.")
    pooling: str | None = _choice(None, POOLING_METHODS, "Override the pooling between levels (fresh models).")
    ssm_backend: str | None = _choice(
        None, SSM_BACKENDS, "Selective-scan implementation (config.ssm_backend; default: the config's, 'auto')."
    )
    config_overrides: str | None = field(
        default=None,
        metadata={
            "help": "JSON object of BytesVideoConfig fields that override the preset, e.g. "
            '\'{"mixer_type": "transformer", "hidden_size": 48}\' (fresh models only).'
        },
    )
    problem_type: str | None = _choice(
        None, PROBLEM_TYPES, "Loss of the classifier (default: single_label_classification for int labels)."
    )

    def __post_init__(self):
        check_choices(self)


@dataclass
class DataArguments:
    """Where the videos come from."""

    data_dir: str | None = field(
        default=None,
        metadata={"help": "Folder of class subfolders of videos (read as paths, anew every run). With --dataset_name, "
                          "the data_dir passed to load_dataset (e.g. --dataset_name videofolder --data_dir videos/)."},
    )
    dataset_path: str | None = field(
        default=None,
        metadata={"help": "A local dataset: saved with save_to_disk, a `bytevid prepare-data` output, or a folder "
                          "that datasets.load_dataset reads (Parquet, ...)."},
    )
    dataset_name: str | None = field(
        default=None,
        metadata={"help": "datasets.load_dataset name: a Hub dataset id (user/videos), a local dataset folder, or a "
                          "builder such as videofolder (with --data_dir)."},
    )
    dataset_config: str | None = field(default=None, metadata={"help": "Configuration name of --dataset_name."})
    dataset_revision: str | None = field(default=None, metadata={"help": "Revision (branch, tag, commit) of a Hub "
                                                                         "dataset."})
    video_column: str = field(
        default="video",
        metadata={"help": "Video column: a datasets Video feature (read as the encoded file), bytes or paths."},
    )
    label_column: str = field(default="label", metadata={"help": "Label column (ClassLabel or int)."})
    train_split: str = field(default="train", metadata={"help": "Split name for training (DatasetDict)."})
    eval_split: str | None = field(
        default=None, metadata={"help": "Split name for evaluation; default: 'validation' or 'test' when present."}
    )
    validation_fraction: float = field(
        default=0.2, metadata={"help": "Held-out fraction when the data has no evaluation split (stratified)."}
    )
    split_seed: int = field(default=0, metadata={"help": "Seed of the train/held-out split."})
    max_length: int | None = field(default=None, metadata={"help": "Truncate videos to this many bytes."})
    max_train_minutes: float | None = field(
        default=None, metadata={"help": "Stop training after this many minutes of wall-clock time."}
    )
    transcode: bool = field(default=False, metadata={"help": "Re-encode every video to the canonical format first."})


# ---------------------------------------------------------------------------------------------------------------------
# bytevid pretrain
# ---------------------------------------------------------------------------------------------------------------------
@dataclass
class PretrainingArguments:
    """What to pre-train and on which videos (or, for jpeg-classification, images)."""

    objective: str = _choice(
        "next-byte", OBJECTIVES, "next-byte: predict byte t+1; rgb: reconstruct decoded frames (both on videos); "
        "jpeg-classification: classify images from their JPEG bytes (an image dataset with labels)."
    )
    preset: str = _choice("bytes-micro", PRESET_NAMES, "Architecture preset of a new model.")
    model_name_or_path: str | None = field(default=None, metadata={"help": "Continue from a saved checkpoint."})
    pooling: str | None = _choice(None, POOLING_METHODS, "Override the pooling between levels (new models).")
    ssm_backend: str | None = _choice(None, SSM_BACKENDS, "Selective-scan implementation (config.ssm_backend).")
    config_overrides: str | None = field(
        default=None, metadata={"help": 'JSON of BytesVideoConfig fields for a new model, e.g. {"reconstruction_size": 64}'}
    )
    data_dir: str | None = field(
        default=None, metadata={"help": "Folder of videos (searched recursively); jpeg-classification: an imagefolder "
                                        "(class subfolders of images, optionally under train/ and test/); with "
                                        "--dataset_name, load_dataset's data_dir (e.g. --dataset_name videofolder "
                                        "--data_dir videos/)."})
    dataset_path: str | None = field(
        default=None, metadata={"help": "Local dataset with a 'video' column: save_to_disk, a `bytevid prepare-data` "
                                        "output, or a folder load_dataset reads."})
    dataset_name: str | None = field(default=None, metadata={"help": "load_dataset name: a Hub dataset id, ..."})
    dataset_config: str | None = field(default=None, metadata={"help": "Configuration name of --dataset_name."})
    dataset_revision: str | None = field(default=None, metadata={"help": "Revision of a Hub dataset."})
    train_split: str = field(default="train", metadata={"help": "Split to pre-train on."})
    eval_split: str | None = field(
        default=None, metadata={"help": "jpeg-classification: split evaluated at the end (accuracy); default "
                                        "'validation' or 'test' when present."})
    video_column: str = field(default="video", metadata={"help": "Video column (Video feature, bytes or paths)."})
    image_column: str = field(
        default="image", metadata={"help": "jpeg-classification: image column (Image feature, image files, arrays)."})
    label_column: str = field(default="label", metadata={"help": "jpeg-classification: label column (ClassLabel or "
                                                                 "int)."})
    jpeg_quality: int = field(default=75, metadata={"help": "jpeg-classification: JPEG quality 1..100 (saved in the "
                                                            "processor)."})
    jpeg_size: int | None = field(
        default=None, metadata={"help": "jpeg-classification: resize images so their shorter side is this many "
                                        "pixels before encoding (saved in the processor; default: as they are)."})
    max_length: int | None = field(default=65536, metadata={
        "help": "next-byte: bytes per training window; jpeg-classification: longer JPEGs are cut to this many bytes."})
    crop: str = _choice("random", CROP_MODES, "next-byte: which window of a longer video.")

    def __post_init__(self):
        check_choices(self)


# ---------------------------------------------------------------------------------------------------------------------
# bytevid train-long
# ---------------------------------------------------------------------------------------------------------------------
@dataclass
class LongVideoArguments:
    """Data and model for long-video training."""

    data_dir: str | None = field(default=None, metadata={
        "help": "Folder of class subfolders of videos; with --dataset_name, load_dataset's data_dir."})
    dataset_path: str | None = field(default=None, metadata={
        "help": "Local dataset with a video and a label column (save_to_disk, prepare-data output, Parquet ...)."})
    dataset_name: str | None = field(default=None, metadata={
        "help": "load_dataset name: a Hub dataset id, or videofolder with --data_dir."})
    dataset_config: str | None = field(default=None, metadata={"help": "Configuration name of --dataset_name."})
    dataset_revision: str | None = field(default=None, metadata={"help": "Revision of a Hub dataset."})
    train_split: str = field(default="train", metadata={"help": "Split to train on."})
    video_column: str = field(default="video", metadata={"help": "Video column (Video feature, bytes or paths)."})
    label_column: str = field(default="label", metadata={"help": "Label column (ClassLabel or int)."})
    random_videos: int = field(default=0, metadata={"help": "Use N random byte strings instead (memory/speed check)."})
    random_length: int = field(default=1_000_000, metadata={"help": "Bytes per random video."})
    preset: str = _choice("bytes-tiny", PRESET_NAMES, "Architecture preset for a new model.")
    model_name_or_path: str | None = field(default=None, metadata={"help": "Start from a saved bytevid checkpoint."})
    ssm_backend: str | None = _choice(None, SSM_BACKENDS, "Selective-scan implementation (config.ssm_backend).")
    num_subsequences: int = field(default=8, metadata={"help": "K: pieces per video (gradient accumulation steps)."})
    max_bytes: int | None = field(default=None, metadata={"help": "Truncate every video to this many bytes."})
    sequence_parallel: bool | None = field(
        default=None, metadata={"help": "Shard pieces across processes (default: when more than one process runs)."}
    )

    def __post_init__(self):
        check_choices(self)


# ---------------------------------------------------------------------------------------------------------------------
# bytevid finetune-qa / evaluate-qa
# ---------------------------------------------------------------------------------------------------------------------
@dataclass
class QAModelArguments:
    """Which model to fine-tune and which parameters train."""

    model_name_or_path: str | None = field(
        default=None, metadata={"help": "A saved BytesVideoGemmaForQA checkpoint (with its processor)."}
    )
    video_encoder: str | None = field(
        default=None, metadata={"help": "With --language_model: a bytevid checkpoint (its bytevid. backbone is used)."}
    )
    language_model: str | None = field(
        default=None, metadata={"help": "With --video_encoder: a Gemma causal-LM checkpoint folder (with tokenizer)."}
    )
    tokenizer_name: str | None = field(
        default=None, metadata={"help": "Tokenizer folder, if not saved with --language_model."}
    )
    num_video_tokens: int = field(
        default=32, metadata={"help": "Video tokens per video (new models only); 0 = every last-level position."}
    )
    projector_hidden_act: str = field(default="gelu", metadata={"help": "Projector activation (new models only)."})
    freeze_lm: bool = field(default=False, metadata={"help": "Train only the video encoder, pooling and projector."})
    freeze_video_encoder: bool = field(default=False, metadata={"help": "Keep the byte encoder (bytevid.*) fixed."})
    lora_r: int = field(default=0, metadata={"help": "> 0: LoRA of this rank on the LM's attention projections."})
    lora_alpha: int | None = field(default=None, metadata={"help": "LoRA alpha (default 2 * lora_r)."})
    lora_dropout: float = field(default=0.05, metadata={"help": "LoRA dropout."})
    lora_target_modules: str = field(
        default=DEFAULT_LORA_TARGETS, metadata={"help": "Comma-separated LM module names that get LoRA adapters."}
    )
    video_chunk_size: int | None = field(
        default=None,
        metadata={"help": "Long-video mode: the encoder reads each video this many bytes at a time, carrying its state "
                          "(video tokens and gradients of one pass, activations of one chunk; saved as "
                          "config.video_chunk_size); videos are then not truncated unless --max_video_bytes is given. "
                          "0 = one pass; default: the model's setting (one pass for new models)."},
    )
    video_chunk_backprop: str | None = _choice(
        None, ("full", "truncated"),
        "Long-video mode's gradients across chunks (saved as config.video_chunk_backprop): full = through the carried "
        "state (the one-pass gradients), truncated = the state entering each chunk is detached (truncated BPTT, as in "
        "train-long). Default: the model's setting (full for new models).")

    def __post_init__(self):
        check_choices(self)


@dataclass
class QADataArguments:
    """Where the questions and videos come from."""

    train_file: str | None = field(
        default=None, metadata={"help": "CSV/JSONL manifest (video, question, answer[, choices]) or a local dataset."}
    )
    eval_file: str | None = field(default=None, metadata={"help": "Evaluation manifest or local dataset (eval loss)."})
    dataset_name: str | None = field(
        default=None, metadata={"help": "Instead of --train_file: a load_dataset name (Hub dataset id, ...) with "
                                        "video, question, answer[, choices] columns."})
    dataset_config: str | None = field(default=None, metadata={"help": "Configuration name of --dataset_name."})
    dataset_revision: str | None = field(default=None, metadata={"help": "Revision of a Hub dataset."})
    data_dir: str | None = field(default=None, metadata={"help": "load_dataset's data_dir for --dataset_name."})
    train_split: str = field(default="train", metadata={"help": "Training split of --dataset_name / a dataset."})
    eval_split: str | None = field(default=None, metadata={"help": "Evaluation split of --dataset_name."})
    max_video_bytes: int | None = field(default=None, metadata={
        "help": "Truncate every video to this many bytes (default: the video processor's max_length, none in "
                "long-video mode, see --video_chunk_size)."})
    transcode: bool = field(default=False, metadata={"help": "Re-encode every video to the canonical format first."})
    use_chat_template: bool = field(default=True, metadata={"help": "Render prompts with the chat template."})


@dataclass
class QAEvaluationArguments:
    """What to evaluate and how to generate."""

    model_name_or_path: str = field(metadata={"help": "A saved BytesVideoGemmaForQA checkpoint (with its processor)."})
    eval_file: str = field(metadata={"help": "CSV/JSONL manifest (video, question, answer[, choices]) or dataset."})
    output_dir: str | None = field(default=None, metadata={"help": "Write predictions.jsonl and metrics.json here."})
    split: str | None = field(default=None, metadata={"help": "Split of a saved DatasetDict (default: train)."})
    batch_size: int = field(default=8, metadata={"help": "Questions per generate() call."})
    max_new_tokens: int = field(default=16, metadata={"help": "Longest generated answer, in tokens."})
    num_beams: int = field(default=1, metadata={"help": "Beam search width (1 = greedy)."})
    max_video_bytes: int | None = field(default=None, metadata={
        "help": "Truncate every video to this many bytes (default: the saved processor's max_length, none in "
                "long-video mode)."})
    video_chunk_size: int | None = field(
        default=None,
        metadata={"help": "Long-video mode: encode each video this many bytes at a time with the encoder's state "
                          "carried between chunks (the video tokens of one pass); videos are then not truncated unless "
                          "--max_video_bytes is given. 0 = one pass; default: the checkpoint's config.video_chunk_size."},
    )
    limit: int | None = field(default=None, metadata={"help": "Evaluate only the first N questions."})
    device: str | None = field(default=None, metadata={"help": "cpu, cuda, ... (default: cuda when available)."})
    use_chat_template: bool = field(default=True, metadata={"help": "Render prompts with the chat template."})


__all__ = [
    "CROP_MODES",
    "DEFAULT_LORA_TARGETS",
    "DEFAULT_QA_LEARNING_RATE",
    "DataArguments",
    "LongVideoArguments",
    "ModelArguments",
    "OBJECTIVES",
    "POOLING_METHODS",
    "PRESET_NAMES",
    "PROBLEM_TYPES",
    "PretrainingArguments",
    "QADataArguments",
    "QAEvaluationArguments",
    "QAModelArguments",
    "SSM_BACKENDS",
    "check_choices",
]
