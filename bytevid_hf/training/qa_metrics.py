"""Offline video-QA metrics as `evaluate` modules (defined in code; nothing is fetched from the Hub).

* :class:`ByteVideoQAExactMatch` — open-ended answers: exact match after :func:`normalize_answer` (lowercase, no
  punctuation, no articles "a"/"an"/"the", whitespace collapsed), as in SQuAD-style VQA evaluation. With
  ``config_name="multiple_references"`` each reference is a list of acceptable answers.
* :class:`ByteVideoQAMultipleChoiceAccuracy` — multiple choice: each generated text is mapped to an option letter
  with :func:`extract_choice_letter` (``"b"``, ``"(b)"``, ``"B)"``, ``"The answer is (b)"``, or the option's text
  when the choices are given) and compared with the reference letter (a letter, an index, or the option's text).

Use them directly (``ByteVideoQAExactMatch().compute(predictions=[...], references=[...])``), through
:func:`load_qa_metric`, or with :func:`compute_qa_metrics` for a mix of open-ended and multiple-choice questions.
"""

from __future__ import annotations

import re
import string
from collections.abc import Sequence
from typing import Any

import datasets
import evaluate

from ..processing.processing_qa import CHOICE_LETTERS, choice_index

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = set(string.punctuation)


def normalize_answer(text: Any) -> str:
    """Lowercase, remove punctuation, remove the articles a/an/the, collapse whitespace."""
    text = str(text).lower()
    text = "".join(ch if ch not in _PUNCTUATION else " " for ch in text)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def extract_choice_letter(text: Any, choices: Sequence[str] | None = None, num_choices: int = 4) -> str | None:
    """The option letter a generated answer names, or ``None``.

    Tried in order on the stripped, lowercased text, with letters limited to the first ``len(choices)`` (else
    ``num_choices``): the text is just a letter (``"b"``, ``"(b)"``, ``"b."``); it starts with a letter followed by
    ``)``, ``.`` or ``:`` (``"b) red"``); it says ``answer is b`` / ``answer: (b)``; it holds a parenthesised letter
    (``"... (b) ..."``); with ``choices``, its normalised text equals one option's or contains exactly one option.
    A bare word such as ``"a red ball"`` is not read as the letter "a".
    """
    n = len(choices) if choices is not None else num_choices
    letters = CHOICE_LETTERS[:n]
    raw = str(text).strip().lower()
    if not raw:
        return None
    klass = f"[{letters}]"
    patterns = (
        rf"^\(?({klass})\)?[.:]?$",
        rf"^\(?({klass})[).:]",
        rf"answer\s*(?:is|:)?\s*:?\s*\(?({klass})\b\)?",
        rf"\(({klass})\)",
    )
    for pattern in patterns:
        match = re.search(pattern, raw)
        if match:
            return match.group(1)
    if choices is not None:
        normalized = normalize_answer(raw)
        options = [normalize_answer(c) for c in choices]
        if normalized in options:
            return letters[options.index(normalized)]
        contained = [
            i for i, option in enumerate(options) if option and re.search(rf"\b{re.escape(option)}\b", normalized)
        ]
        if len(contained) == 1:
            return letters[contained[0]]
    return None


def reference_letter(reference: Any, choices: Sequence[str] | None = None, num_choices: int = 4) -> str:
    """The correct option's letter from a letter, an index or (with ``choices``) the option's text."""
    if choices is None:
        if isinstance(reference, str) and reference.strip().isdigit():
            reference = int(reference.strip())
        if isinstance(reference, str):
            letter = reference.strip().strip("()[]. ").rstrip(")").lower()
            if len(letter) == 1 and letter in CHOICE_LETTERS[:num_choices]:
                return letter
            raise ValueError(f"reference {reference!r} is not an option letter; pass the choices to map option texts")
        return CHOICE_LETTERS[choice_index(reference, [str(i) for i in range(num_choices)])]
    try:  # a letter or an option's text (what the processor trains on), as BytesVideoQAProcessor reads answers
        return CHOICE_LETTERS[choice_index(reference, list(choices))]
    except ValueError:
        if isinstance(reference, str) and reference.strip().isdigit():
            return CHOICE_LETTERS[choice_index(int(reference.strip()), list(choices))]
        raise


class ByteVideoQAExactMatch(evaluate.Metric):
    """Exact match of normalised answers (open-ended QA): ``{"exact_match": fraction}``.

    With ``config_name="multiple_references"`` each reference is a list of acceptable answers and a prediction is
    correct when it matches any of them.
    """

    def _info(self):
        reference = (
            datasets.Sequence(datasets.Value("string"))
            if self.config_name == "multiple_references"
            else datasets.Value("string")
        )
        return evaluate.MetricInfo(
            description="Exact match after lowercasing and removing punctuation, articles and extra whitespace.",
            citation="",
            inputs_description="predictions: generated answers (str); references: answers (str, or list of str "
            "for 'multiple_references').",
            features=datasets.Features({"predictions": datasets.Value("string"), "references": reference}),
        )

    def _compute(self, predictions, references):
        if len(predictions) != len(references):
            raise ValueError(f"{len(predictions)} predictions for {len(references)} references")
        correct = 0
        for prediction, reference in zip(predictions, references):
            accepted = reference if isinstance(reference, (list, tuple)) else [reference]
            correct += normalize_answer(prediction) in {normalize_answer(r) for r in accepted}
        return {"exact_match": correct / len(predictions) if predictions else 0.0}


class ByteVideoQAMultipleChoiceAccuracy(evaluate.Metric):
    """Multiple-choice accuracy of generated texts: ``{"accuracy": fraction, "unparsed": fraction}``.

    ``predictions`` are generated texts, ``references`` the correct options (letter, index as text, or the option's
    text when ``choices`` is given). ``compute(..., choices=[[...], ...])`` passes each question's options (used to
    read answers that spell out an option and to limit the letters); without it letters a–``num_choices`` count.
    ``unparsed`` is the fraction of predictions naming no option (counted wrong).
    """

    def _info(self):
        return evaluate.MetricInfo(
            description="Accuracy of multiple-choice answers read from generated text.",
            citation="",
            inputs_description="predictions: generated texts (str); references: correct letters a-d (str).",
            features=datasets.Features(
                {"predictions": datasets.Value("string"), "references": datasets.Value("string")}
            ),
        )

    def _compute(self, predictions, references, choices=None, num_choices: int = 4):
        if len(predictions) != len(references):
            raise ValueError(f"{len(predictions)} predictions for {len(references)} references")
        if choices is not None and len(choices) != len(predictions):
            raise ValueError(f"{len(choices)} choice lists for {len(predictions)} predictions")
        correct = unparsed = 0
        for i, (prediction, reference) in enumerate(zip(predictions, references)):
            options = choices[i] if choices is not None else None
            letter = extract_choice_letter(prediction, options, num_choices=num_choices)
            unparsed += letter is None
            correct += letter is not None and letter == reference_letter(reference, options, num_choices)
        total = len(predictions)
        return {"accuracy": correct / total if total else 0.0, "unparsed": unparsed / total if total else 0.0}


_METRICS = {"exact_match": ByteVideoQAExactMatch, "multiple_choice_accuracy": ByteVideoQAMultipleChoiceAccuracy}


def load_qa_metric(name: str, config_name: str | None = None) -> evaluate.EvaluationModule:
    """Offline replacement for ``evaluate.load(name)``: ``"exact_match"`` or ``"multiple_choice_accuracy"``."""
    if name not in _METRICS:
        raise ValueError(f"Unknown QA metric {name!r}; offline metrics available: {sorted(_METRICS)}")
    return _METRICS[name](config_name=config_name)


def compute_qa_metrics(
    predictions: Sequence[str], references: Sequence[Any], choices: Sequence[Sequence[str] | None] | None = None
) -> dict[str, float]:
    """Metrics of a mixed evaluation set: rows with choices count for ``multiple_choice_accuracy`` (+ ``unparsed``),
    the others for ``exact_match``; ``num_open_ended`` / ``num_multiple_choice`` say how many rows each had."""
    choices = list(choices) if choices is not None else [None] * len(predictions)
    if not len(predictions) == len(references) == len(choices):
        raise ValueError(f"{len(predictions)} predictions, {len(references)} references, {len(choices)} choice lists")
    open_rows = [i for i, c in enumerate(choices) if not c]
    mc_rows = [i for i, c in enumerate(choices) if c]
    result: dict[str, float] = {"num_open_ended": len(open_rows), "num_multiple_choice": len(mc_rows)}
    if open_rows:
        result.update(
            load_qa_metric("exact_match").compute(
                predictions=[str(predictions[i]) for i in open_rows], references=[str(references[i]) for i in open_rows]
            )
        )
    if mc_rows:
        scores = load_qa_metric("multiple_choice_accuracy").compute(
            predictions=[str(predictions[i]) for i in mc_rows],
            references=[str(references[i]) for i in mc_rows],
            choices=[list(choices[i]) for i in mc_rows],
        )
        result["multiple_choice_accuracy"] = scores["accuracy"]
        result["multiple_choice_unparsed"] = scores["unparsed"]
    return result


__all__ = [
    "ByteVideoQAExactMatch",
    "ByteVideoQAMultipleChoiceAccuracy",
    "compute_qa_metrics",
    "extract_choice_letter",
    "load_qa_metric",
    "normalize_answer",
    "reference_letter",
]
