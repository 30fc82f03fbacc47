"""Training with transformers' Trainer: fine-tuning (``finetune``), self-supervised pre-training (``pretraining``),
video QA (``qa``), long videos in sub-sequences with state carry (``subsequence``), callbacks, metrics and LoRA.

The submodules are imported on use (``from bytevid_hf.training.finetune import run_finetuning``): importing this
package loads nothing of transformers' Trainer machinery.
"""
