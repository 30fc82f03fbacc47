"""bytevid_hf: video understanding from encoded bytes with a multilevel Mamba state-space model.

``import bytevid_hf`` registers this package's configs, models and processors with transformers' Auto classes (and
changes nothing else), so ``AutoModel.from_pretrained``, ``AutoModelForVideoClassification``, ``AutoVideoProcessor``
and ``pipeline("video-classification")`` work on saved bytevid checkpoints. In the ``bytevid`` command
(:mod:`bytevid_hf.cli`) that import waits until the command has parsed its arguments, so ``--help`` is fast.

Layout: ``modeling`` (configs and models, the code a checkpoint ships) and ``processing`` (bytes in, tensors out) are
the library transformers loads; ``parallel`` (sequence parallelism), ``training`` (Trainer glue), ``hub``
(publishing), ``data`` (dataset preparation), ``experiments`` (baselines, FLOPs) and ``testing`` build on them.
"""

import os
import sys

__version__ = "0.1.0"

_imported = False


def _import_models() -> None:
    """What ``import bytevid_hf`` does (idempotent): import the models and processors into this namespace, register
    them with transformers' Auto classes, give ``model.push_to_hub`` the package's card and code."""
    global _imported
    if _imported:
        return
    from .modeling import (  # noqa: F401  (bound into the module's namespace by globals().update below)
        PRESET_LEARNING_RATES,
        PRESETS,
        BytesVideoCache,
        BytesVideoCausalLMOutput,
        BytesVideoConfig,
        BytesVideoGemmaConfig,
        BytesVideoClassifierOutput,
        BytesVideoForCausalLM,
        BytesVideoForClassification,
        BytesVideoForRGBReconstruction,
        BytesVideoGemmaCausalLMOutput,
        BytesVideoGemmaForQA,
        BytesVideoModel,
        BytesVideoModelOutput,
        BytesVideoPreTrainedModel,
        BytesVideoRGBReconstructionOutput,
    )
    from .processing import (  # noqa: F401
        CANONICAL_SETTINGS,
        BytesVideoProcessor,
        BytesVideoQAProcessor,
        VideoAugmenter,
        read_video_bytes,
        transcode_video,
    )
    from .auto import register_auto_classes
    from .hub.publish import install_push_to_hub

    globals().update(locals())
    register_auto_classes()
    install_push_to_hub()  # model.push_to_hub: the package's model card and code (bytevid_hf.hub.push_model)
    _imported = True


def _started_as_command_line() -> bool:
    """True in a process started as the ``bytevid`` command: its console script, or ``python -m bytevid_hf.cli``.

    That command imports the models itself (:func:`_import_models`) once it knows it is not only printing ``--help``,
    so ``bytevid <command> --help`` loads neither torch nor transformers. Read from ``sys.orig_argv``, which
    multiprocessing children do not inherit (they import the package as usual).
    """
    args = iter(getattr(sys, "orig_argv", [])[1:])
    for arg in args:
        if arg in ("-W", "-X"):
            next(args, None)
        elif arg == "-m":
            return next(args, None) == "bytevid_hf.cli"
        elif arg.startswith("-m"):
            return arg[2:] == "bytevid_hf.cli"
        elif arg.startswith("-c"):
            return False
        elif not arg.startswith("-") or arg == "-":
            return os.path.basename(arg) in ("bytevid", "bytevid.exe", "bytevid-script.py")
    return False


if not _started_as_command_line():
    _import_models()


def __getattr__(name):  # training helpers load transformers' Trainer machinery only when asked for
    if name in ("SequenceParallelCallback", "TimeBudgetCallback"):
        from .training import callbacks

        return getattr(callbacks, name)
    if name == "BytesVideoClassificationPipeline":
        from .pipelines import BytesVideoClassificationPipeline

        return BytesVideoClassificationPipeline
    if name in __all__ and not _imported:  # deferred by the `bytevid` command: import now
        _import_models()
        return globals()[name]
    raise AttributeError(f"module 'bytevid_hf' has no attribute {name!r}")

__all__ = [
    "BytesVideoCache",
    "BytesVideoClassificationPipeline",
    "BytesVideoConfig",
    "BytesVideoCausalLMOutput",
    "BytesVideoForCausalLM",
    "BytesVideoClassifierOutput",
    "BytesVideoForClassification",
    "BytesVideoForRGBReconstruction",
    "BytesVideoGemmaCausalLMOutput",
    "BytesVideoGemmaConfig",
    "BytesVideoGemmaForQA",
    "BytesVideoQAProcessor",
    "BytesVideoRGBReconstructionOutput",
    "BytesVideoModel",
    "BytesVideoModelOutput",
    "BytesVideoPreTrainedModel",
    "BytesVideoProcessor",
    "CANONICAL_SETTINGS",
    "PRESETS",
    "PRESET_LEARNING_RATES",
    "SequenceParallelCallback",
    "TimeBudgetCallback",
    "VideoAugmenter",
    "read_video_bytes",
    "register_auto_classes",
    "transcode_video",
]
