"""Processor for video question answering with [`BytesVideoGemmaForQA`]: encoded video bytes + a chat prompt.

:class:`BytesVideoQAProcessor` combines a :class:`BytesVideoProcessor` (``video_processor``: video → uint8 bytes) and
the language model's tokenizer:

* each question becomes one user turn — the ``<video>`` placeholder, the question and, for multiple choice, the
  options ``(a) … (b) … (c) … (d) …`` plus an instruction to answer with the letter — rendered with the chat
  template (the processor's, else the tokenizer's) and a generation prompt for the model's turn;
* the single ``<video>`` placeholder is expanded to one copy per video token (``num_video_tokens``; with
  ``num_video_tokens=0``, ``ceil(video bytes / bytes_per_video_token)``), which the model replaces with the video
  tokens;
* with answers, each row is ``prompt + answer + end token`` and ``labels`` are -100 on everything but the answer and
  end tokens; multiple-choice answers are trained as the option's letter (``"b"``).

Rows are right-padded when answers are given (training) and left-padded otherwise (generation), unless
``padding_side`` says otherwise.
"""

from __future__ import annotations

import math
import string
from collections.abc import Sequence
from typing import Any

import numpy as np
from transformers.feature_extraction_utils import BatchFeature
from transformers.processing_utils import ProcessorMixin

from .auto_registration import registered_for
from .video_processor import BytesVideoProcessor

__all__ = [
    "BytesVideoQAProcessor",
    "CHOICE_LETTERS",
    "DEFAULT_MULTIPLE_CHOICE_PROMPT",
    "add_video_token",
    "choice_index",
    "format_choices",
]

#: Letters naming the options of a multiple-choice question, in order.
CHOICE_LETTERS = string.ascii_lowercase
#: Instruction appended to multiple-choice questions (after the options).
DEFAULT_MULTIPLE_CHOICE_PROMPT = "Answer with the option's letter from the given choices directly."


def add_video_token(tokenizer, video_token: str = "<video>") -> int:
    """Add ``video_token`` to ``tokenizer`` as a special token (if it is not one already); return its id.

    A model built for the old vocabulary must grow its embeddings to ``len(tokenizer)``
    (``model.resize_token_embeddings(len(tokenizer))``, or ``BytesVideoGemmaForQA.from_pretrained_parts`` with
    ``video_token_id=...``).
    """
    ids = tokenizer.encode(video_token, add_special_tokens=False)
    if len(ids) != 1 or ids[0] == tokenizer.unk_token_id:
        tokenizer.add_special_tokens({"extra_special_tokens": [video_token]}, replace_extra_special_tokens=False)
        ids = tokenizer.encode(video_token, add_special_tokens=False)
    return ids[0]


def format_choices(choices: Sequence[str]) -> str:
    """``["red", "blue"]`` → ``"(a) red\\n(b) blue"``."""
    return "\n".join(f"({CHOICE_LETTERS[i]}) {str(choice).strip()}" for i, choice in enumerate(choices))


def choice_index(answer: Any, choices: Sequence[str]) -> int:
    """Index of the correct option: ``answer`` is an index (int), a letter (``"b"``, ``"B"``, ``"(b)"``, ``"b)"``)
    or the option's text (case-insensitive). Raises ``ValueError`` when it is none of these."""
    n = len(choices)
    if isinstance(answer, (int, np.integer)) and not isinstance(answer, bool):
        if 0 <= int(answer) < n:
            return int(answer)
        raise ValueError(f"answer index {answer} is out of range for {n} choices")
    text = str(answer).strip()
    letter = text.strip("()[]. ").rstrip(")").lower()
    if len(letter) == 1 and letter in CHOICE_LETTERS[:n]:
        return CHOICE_LETTERS.index(letter)
    lowered = [str(c).strip().lower() for c in choices]
    if text.lower() in lowered:
        return lowered.index(text.lower())
    raise ValueError(
        f"answer {answer!r} is neither an option letter ({', '.join(CHOICE_LETTERS[:n])}), an index, nor one of the "
        f"choices {list(choices)}"
    )


def _as_list(value: Any, name: str, batch: int | None) -> list | None:
    if value is None:
        return None
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
        value = [value]
    value = list(value)
    if batch is not None and len(value) != batch:
        raise ValueError(f"got {len(value)} {name} for {batch} question(s); pass one per question")
    return value


class BytesVideoQAProcessor(ProcessorMixin):
    r"""Video + question (+ answer) → inputs of [`BytesVideoGemmaForQA`].

    Args:
        video_processor ([`BytesVideoProcessor`]): turns videos (paths, bytes, file objects, arrays) into bytes.
        tokenizer ([`PreTrainedTokenizerBase`]): the language model's tokenizer; ``video_token`` must be one token of
            it (see :func:`add_video_token`).
        num_video_tokens (`int`, *optional*, defaults to 32): placeholders per video — the model's
            ``config.num_video_tokens``; ``0`` = one per ``bytes_per_video_token`` bytes of the (truncated) video.
        video_token (`str`, *optional*, defaults to `"<video>"`): the placeholder.
        bytes_per_video_token (`int`, *optional*): only for ``num_video_tokens=0``: the model's
            ``video_config.total_pool_factor``.
        multiple_choice_prompt (`str`, *optional*): instruction after the options of a multiple-choice question.
        answer_end_token (`str`, *optional*): appended to every answer (and trained); default: the tokenizer's eos.
        chat_template (`str`, *optional*): a chat template; default: the tokenizer's.

    Call with ``videos`` and ``text`` (the questions; one video per question), optionally ``choices`` (per question
    a list of 2–26 options or ``None`` for open-ended) and ``answers``. Returns a ``BatchFeature`` with
    ``input_ids``, ``attention_mask`` (B, T), ``video_input_ids`` (uint8), ``video_attention_mask`` (B, L) and, with
    answers, ``labels`` (B, T). Other keyword arguments go to the video processor (``max_length``, ``transcode``, ...).
    """

    def __init__(
        self,
        video_processor=None,
        tokenizer=None,
        num_video_tokens: int = 32,
        video_token: str = "<video>",
        bytes_per_video_token: int | None = None,
        multiple_choice_prompt: str = DEFAULT_MULTIPLE_CHOICE_PROMPT,
        answer_end_token: str | None = None,
        chat_template: str | None = None,
        **kwargs,
    ):
        if isinstance(num_video_tokens, bool) or not isinstance(num_video_tokens, int) or num_video_tokens < 0:
            raise ValueError(f"num_video_tokens must be an integer >= 0, got {num_video_tokens!r}")
        if num_video_tokens == 0 and (
            isinstance(bytes_per_video_token, bool)
            or not isinstance(bytes_per_video_token, int)
            or bytes_per_video_token < 1
        ):
            raise ValueError(
                "num_video_tokens=0 (one token per last-level position) needs bytes_per_video_token, the model's "
                f"video_config.total_pool_factor, got {bytes_per_video_token!r}"
            )
        if tokenizer is None or video_processor is None:
            raise ValueError("BytesVideoQAProcessor needs a video_processor and a tokenizer")
        ids = tokenizer.encode(video_token, add_special_tokens=False)
        if len(ids) != 1 or ids[0] == tokenizer.unk_token_id:
            raise ValueError(
                f"the tokenizer has no single token {video_token!r} (it encodes to {ids}); add it with "
                "bytevid_hf.processing.processing_qa.add_video_token(tokenizer) and resize the model's embeddings"
            )
        self.num_video_tokens = num_video_tokens
        self.video_token = video_token
        self.video_token_id = ids[0]
        self.bytes_per_video_token = bytes_per_video_token
        self.multiple_choice_prompt = multiple_choice_prompt
        self.answer_end_token = answer_end_token
        super().__init__(video_processor, tokenizer, chat_template=chat_template, **kwargs)
        end = self.answer_end_token if self.answer_end_token is not None else tokenizer.eos_token
        if end is None:
            raise ValueError("the tokenizer has no eos_token; pass answer_end_token=... (the token that ends answers)")
        end_ids = tokenizer.encode(end, add_special_tokens=False)
        if len(end_ids) != 1:
            raise ValueError(f"answer_end_token {end!r} must be a single token of the tokenizer, encodes to {end_ids}")
        self.answer_end_token_id = end_ids[0]

    @classmethod
    def for_model(cls, config, video_processor, tokenizer, **kwargs) -> BytesVideoQAProcessor:
        """A processor matching a [`BytesVideoGemmaConfig`] (or a model): its ``num_video_tokens``, ``video_token``
        and, for ``num_video_tokens=0``, ``bytes_per_video_token``."""
        config = getattr(config, "config", config)
        kwargs.setdefault("num_video_tokens", config.num_video_tokens)
        kwargs.setdefault("video_token", config.video_token)
        if config.num_video_tokens == 0:
            kwargs.setdefault("bytes_per_video_token", config.video_config.total_pool_factor)
        processor = cls(video_processor, tokenizer, **kwargs)
        if config.video_token_id is not None and processor.video_token_id != config.video_token_id:
            raise ValueError(
                f"the tokenizer's {processor.video_token!r} id {processor.video_token_id} differs from the model's "
                f"config.video_token_id={config.video_token_id}"
            )
        return processor

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, cache_dir=None, force_download: bool = False,
                        local_files_only: bool = False, token=None, revision: str = "main", **kwargs):
        """Load a saved processor: its own settings (``processor_config.json``, through
        :meth:`~transformers.ProcessorMixin.get_processor_dict`), the ``video_processor`` with
        :meth:`BytesVideoProcessor.from_pretrained` — not through ``AutoVideoProcessor``, so loading needs no Auto-class
        registration and works from a remote-code checkpoint — and the ``tokenizer`` with ``AutoTokenizer``."""
        from transformers import AutoTokenizer

        kwargs.update(cache_dir=cache_dir, force_download=force_download, local_files_only=local_files_only,
                      revision=revision)
        if token is not None:
            kwargs["token"] = token
        processor_dict, instantiation_kwargs = cls.get_processor_dict(pretrained_model_name_or_path, **kwargs)
        loaders = {"video_processor": BytesVideoProcessor.from_pretrained, "tokenizer": AutoTokenizer.from_pretrained}
        parts = [loaders[name](pretrained_model_name_or_path, **kwargs) for name in cls.get_attributes()]
        return cls.from_args_and_dict(parts, processor_dict, **instantiation_kwargs)

    def save_pretrained(self, save_directory, push_to_hub: bool = False, **kwargs):
        """transformers' ``save_pretrained`` (and so ``push_to_hub``), with this class registered for
        ``AutoProcessor`` while it runs: the folder holds ``auto_map`` and the processors' code (see
        :func:`~bytevid_hf.processing.auto_registration.registered_for`)."""
        with registered_for(type(self), "AutoProcessor"):
            return super().save_pretrained(save_directory, push_to_hub=push_to_hub, **kwargs)

    @property
    def model_input_names(self) -> list[str]:
        return ["input_ids", "attention_mask", "video_input_ids", "video_attention_mask"]

    # ------------------------------------------------------------------------------------------------------------
    # Prompts
    # ------------------------------------------------------------------------------------------------------------
    def build_user_message(self, question: str, choices: Sequence[str] | None = None) -> str:
        """The user turn's text: the placeholder (prepended unless the question holds it), the question and, for
        multiple choice, the lettered options and the instruction."""
        question = str(question).strip()
        count = question.count(self.video_token)
        if count > 1:
            raise ValueError(f"a question may hold the {self.video_token!r} placeholder at most once, got {count}")
        content = question if count == 1 else f"{self.video_token}\n{question}"
        if choices is not None:
            choices = list(choices)
            if not 2 <= len(choices) <= len(CHOICE_LETTERS):
                raise ValueError(f"a multiple-choice question needs 2 to {len(CHOICE_LETTERS)} choices, got "
                                 f"{len(choices)}: {choices}")
            content = f"{content}\n{format_choices(choices)}"
            if self.multiple_choice_prompt:
                content = f"{content}\n{self.multiple_choice_prompt}"
        return content

    def build_prompt(self, question: str, choices: Sequence[str] | None = None, use_chat_template: bool = True) -> str:
        """The prompt text up to the model's answer (one, unexpanded ``video_token``)."""
        content = self.build_user_message(question, choices)
        if not use_chat_template:
            return content + "\n"
        template = self.chat_template  # None: the tokenizer's own
        if template is None and getattr(self.tokenizer, "chat_template", None) is None:
            raise ValueError(
                "neither the processor nor the tokenizer has a chat template; pass chat_template=... or call with "
                "use_chat_template=False"
            )
        prompt = self.tokenizer.apply_chat_template(
            [{"role": "user", "content": content}], chat_template=template, tokenize=False, add_generation_prompt=True
        )
        if prompt.count(self.video_token) != 1:
            raise ValueError(f"the chat template must keep the {self.video_token!r} placeholder exactly once; the "
                             f"rendered prompt holds it {prompt.count(self.video_token)} times")
        return prompt

    def answer_text(self, answer: Any, choices: Sequence[str] | None = None) -> str:
        """The trained answer: the option's letter for multiple choice, else the answer text (stripped)."""
        if choices is not None:
            return CHOICE_LETTERS[choice_index(answer, list(choices))]
        text = str(answer).strip()
        if not text:
            raise ValueError("an answer is empty")
        return text

    def num_placeholders(self, num_bytes: int) -> int:
        """Video tokens for one video of ``num_bytes`` bytes (after the video processor's truncation)."""
        if self.num_video_tokens:
            return self.num_video_tokens
        return math.ceil(int(num_bytes) / self.bytes_per_video_token)

    # ------------------------------------------------------------------------------------------------------------
    # Batches
    # ------------------------------------------------------------------------------------------------------------
    def __call__(
        self,
        videos: Any = None,
        text: str | Sequence[str] | None = None,
        choices: Sequence[Sequence[str] | None] | None = None,
        answers: Any = None,
        return_tensors: str | None = "pt",
        padding_side: str | None = None,
        use_chat_template: bool = True,
        **video_kwargs: Any,
    ) -> BatchFeature:
        """Build a batch; see the class docstring. ``choices`` may be one list of options shared by a single
        question, or one entry (list or ``None``) per question."""
        if videos is None or text is None:
            raise ValueError("BytesVideoQAProcessor needs videos and text (the questions), one video per question")
        questions = [text] if isinstance(text, str) else list(text)
        if not questions:
            raise ValueError("text is empty: pass at least one question")
        batch = len(questions)
        video_list = list(videos) if isinstance(videos, (list, tuple)) else [videos]
        if len(video_list) != batch:
            raise ValueError(f"got {len(video_list)} video(s) for {batch} question(s); pass one video per question")
        if choices is not None and batch == 1 and choices and all(isinstance(c, str) for c in choices):
            choices = [choices]  # one question's options
        choice_list = _as_list(choices, "choice lists", batch) or [None] * batch
        for i, options in enumerate(choice_list):
            if options is not None and (isinstance(options, str) or not isinstance(options, (list, tuple))):
                raise ValueError(f"choices[{i}] must be a list of options or None (open-ended), got {options!r}")
        answer_list = _as_list(answers, "answers", batch)
        if answer_list is not None and any(a is None for a in answer_list):
            missing = [i for i, a in enumerate(answer_list) if a is None]
            raise ValueError(f"answers {missing} are None; give every question an answer, or no answers at all")
        if return_tensors not in ("pt", "np"):
            raise ValueError(f"return_tensors must be 'pt' or 'np', got {return_tensors!r}")
        side = padding_side or ("right" if answer_list is not None else "left")
        if side not in ("left", "right"):
            raise ValueError(f"padding_side must be 'left' or 'right', got {padding_side!r}")

        video_inputs = self.video_processor(video_list, return_tensors=return_tensors, **video_kwargs)
        video_lengths = [int(n) for n in np.asarray(video_inputs["attention_mask"]).sum(1)]

        rows, label_rows = [], []
        for i, (question, options) in enumerate(zip(questions, choice_list)):
            prompt = self.build_prompt(question, options, use_chat_template=use_chat_template)
            count = self.num_placeholders(video_lengths[i])
            prompt = prompt.replace(self.video_token, self.video_token * count)
            ids = self.tokenizer.encode(prompt, add_special_tokens=False)  # the template holds the bos token
            found = sum(1 for t in ids if t == self.video_token_id)
            if found != count:
                raise ValueError(f"question {i}: the tokenized prompt holds {found} {self.video_token!r} tokens, "
                                 f"expected {count} (does the question contain the token's text?)")
            labels = [-100] * len(ids)
            if answer_list is not None:
                answer = self.answer_text(answer_list[i], options)
                answer_ids = self.tokenizer.encode(answer, add_special_tokens=False) + [self.answer_end_token_id]
                ids = ids + answer_ids
                labels = labels + answer_ids
            rows.append(ids)
            label_rows.append(labels)

        pad_id = self.tokenizer.pad_token_id
        if pad_id is None:
            pad_id = self.answer_end_token_id
        width = max(len(r) for r in rows)
        input_ids = np.full((batch, width), pad_id, dtype=np.int64)
        attention_mask = np.zeros((batch, width), dtype=np.int64)
        labels = np.full((batch, width), -100, dtype=np.int64)
        for b, (ids, lab) in enumerate(zip(rows, label_rows)):
            span = slice(0, len(ids)) if side == "right" else slice(width - len(ids), width)
            input_ids[b, span] = ids
            attention_mask[b, span] = 1
            labels[b, span] = lab

        data = {
            "input_ids": input_ids,
            "attention_mask": attention_mask,
            "video_input_ids": video_inputs["input_ids"],
            "video_attention_mask": video_inputs["attention_mask"],
        }
        if answer_list is not None:
            data["labels"] = labels
        if return_tensors == "pt":
            import torch

            data = {k: v if isinstance(v, torch.Tensor) else torch.from_numpy(np.asarray(v)) for k, v in data.items()}
        return BatchFeature(data, tensor_type=None)

    def decode_answers(self, generated_ids, prompt_length: int | None = None) -> list[str]:
        """Text of the generated answers: ``generated_ids`` (B, T) from ``model.generate`` without the first
        ``prompt_length`` positions (the prompt's padded length, ``batch["input_ids"].shape[1]``), special tokens
        removed and whitespace stripped."""
        sequences = generated_ids[:, prompt_length:] if prompt_length else generated_ids
        texts = self.tokenizer.batch_decode(sequences, skip_special_tokens=True)
        return [t.strip() for t in texts]
