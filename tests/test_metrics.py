"""Mean average precision for multi-label classification (bytevid_hf.training.metrics), against a brute-force
reference written here from the definition, closed-form values, and sklearn when it is installed."""

import math

import numpy as np
import pytest
import torch

from bytevid_hf.training.metrics import (
    ByteVideoMeanAveragePrecision,
    average_precision,
    classification_metrics,
    load_metric,
    mean_average_precision,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # conftest.py


def brute_force_ap(scores, labels):
    """sum_k (R_k - R_{k-1}) P_k over the distinct scores t_1 > t_2 > ... taken as thresholds: P_k and R_k are the
    precision and recall of the set {i : scores[i] >= t_k}. O(n^2), plain Python, no sorting of pairs."""
    scores, labels = [float(s) for s in scores], [int(y) for y in labels]
    positives = sum(labels)
    if positives == 0:
        return math.nan
    ap, previous_recall = 0.0, 0.0
    for t in sorted(set(scores), reverse=True):
        selected = [y for s, y in zip(scores, labels) if s >= t]
        precision, recall = sum(selected) / len(selected), sum(selected) / positives
        ap += (recall - previous_recall) * precision
        previous_recall = recall
    return ap


def brute_force_map(scores, labels):
    aps = [brute_force_ap(scores[:, c], labels[:, c]) for c in range(scores.shape[1])]
    kept = [a for a in aps if not math.isnan(a)]
    return sum(kept) / len(kept) if kept else math.nan


class EvalPred:
    def __init__(self, predictions, label_ids):
        self.predictions, self.label_ids = predictions, label_ids


@pytest.mark.parametrize("seed", range(6))
def test_matches_the_brute_force_definition_with_and_without_ties(seed):
    rng = np.random.default_rng(seed)
    n, classes = 40, 5
    labels = (rng.random((n, classes)) < rng.uniform(0.1, 0.6, classes)).astype(int)
    labels[0] = 1  # every class has a positive
    continuous = rng.normal(size=(n, classes)) + labels  # informative, no ties
    tied = np.round(continuous * 2) / 2  # many ties, some straddling positives and negatives
    for scores in (continuous, tied):
        for c in range(classes):
            assert average_precision(scores[:, c], labels[:, c]) == pytest.approx(
                brute_force_ap(scores[:, c], labels[:, c]), abs=1e-12)
        assert mean_average_precision(scores, labels) == pytest.approx(brute_force_map(scores, labels), abs=1e-12)
    assert len(np.unique(tied)) < tied.size // 4  # the second case really has ties


def test_known_values_perfect_reversed_tied():
    labels = np.array([1, 1, 0, 0, 0])
    assert average_precision([5, 4, 3, 2, 1], labels) == 1.0  # perfect ranking
    # reversed: the 2 positives ranked below the 3 negatives: (1/2) * (1/4 + 2/5)
    assert average_precision([1, 2, 3, 4, 5], labels) == pytest.approx((1 / 4 + 2 / 5) / 2)
    # one positive last of n: 1/n
    assert average_precision(np.arange(10.0)[::-1], np.eye(10, dtype=int)[9]) == pytest.approx(1 / 10)
    # all scores tied: one threshold, AP = precision of everything = prevalence (not an order-dependent value)
    assert average_precision(np.zeros(5), labels) == pytest.approx(2 / 5)
    assert average_precision(np.zeros(5), labels[::-1]) == pytest.approx(2 / 5)
    # a tie between a positive and a negative counts both at once: thresholds 2 (P=1/2, R=1/2), 1 (P=2/3, R=1)
    assert average_precision([2, 2, 1], [1, 0, 1]) == pytest.approx(0.5 * 0.5 + 0.5 * 2 / 3)
    # a ranking score is only a ranking: any increasing transform (e.g. the sigmoid of logits) gives the same AP
    logits = np.array([-3.0, 0.5, 2.0, -1.0, 0.1])
    assert average_precision(logits, labels) == average_precision(1 / (1 + np.exp(-logits)), labels)


def test_classes_without_positives_are_skipped():
    scores = np.array([[0.9, 0.1, 0.3], [0.2, 0.8, 0.7], [0.4, 0.3, 0.1]])
    labels = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 0]])  # class 2 has no positive
    mean, per_class = mean_average_precision(scores, labels, return_per_class=True)
    assert per_class[:2].tolist() == [1.0, 1.0] and math.isnan(per_class[2])
    assert mean == 1.0  # not (1 + 1 + 0) / 3: the class is left out
    assert math.isnan(average_precision(scores[:, 2], labels[:, 2]))
    assert math.isnan(mean_average_precision(scores, np.zeros_like(labels)))  # no class to average
    result = load_metric("mean_average_precision").compute(predictions=scores.tolist(), references=labels.tolist())
    assert result == {"mean_average_precision": 1.0, "num_classes_evaluated": 2}


def test_sklearn_agrees_where_installed():
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(7)
    labels = (rng.random((50, 6)) < 0.3).astype(int)
    labels[0] = 1
    scores = np.round(rng.normal(size=(50, 6)) + labels, 1)  # with ties
    expected = metrics.average_precision_score(labels, scores, average=None)
    _, per_class = mean_average_precision(scores, labels, return_per_class=True)
    np.testing.assert_allclose(per_class, expected, atol=1e-12)


def test_shapes_and_values_are_validated_naming_the_argument():
    with pytest.raises(ValueError, match=r"scores must be 2-D \(num_videos, num_classes\), got shape \(4,\)"):
        mean_average_precision(np.zeros(4), np.zeros(4))
    with pytest.raises(ValueError, match=r"labels shape \(4, 2\) != scores shape \(4, 3\)"):
        mean_average_precision(np.zeros((4, 3)), np.zeros((4, 2)))
    with pytest.raises(ValueError, match=r"scores must be 1-D \(num_videos,\), got shape \(4, 1\)"):
        average_precision(np.zeros((4, 1)), np.zeros((4, 1)))
    with pytest.raises(ValueError, match="labels must be 0/1"):
        mean_average_precision(np.zeros((2, 2)), np.array([[0, 2], [1, 0]]))
    with pytest.raises(ValueError, match="scores contains NaN"):
        average_precision([0.1, math.nan], [1, 0])
    with pytest.raises(ValueError, match="scores is empty"):
        mean_average_precision(np.zeros((0, 3)), np.zeros((0, 3)))
    metric = ByteVideoMeanAveragePrecision()
    with pytest.raises(ValueError, match=r"references must be 0/1"):
        metric.compute(predictions=[[0.1, 0.2]], references=[[3, 0]])
    with pytest.raises(ValueError, match=r"label_ids must be 0/1"):
        classification_metrics("multi_label_classification")(EvalPred(np.zeros((2, 3)), np.full((2, 3), 0.5)))
    with pytest.raises(ValueError, match=r"label_ids shape \(2, 2\) != predictions \(logits\) shape \(2, 3\)"):
        classification_metrics("multi_label_classification")(EvalPred(np.zeros((2, 3)), np.zeros((2, 2))))


def test_compute_metrics_ranks_the_logits_not_a_saturated_sigmoid():
    logits = np.array([[40.0, -2.0], [45.0, 3.0], [50.0, 1.0], [-1.0, -5.0]])  # sigmoid(40..50) == 1.0 in float64
    labels = np.array([[0, 0], [0, 1], [1, 1], [0, 0]], dtype=np.float32)  # Trainer's float multi-hot label_ids
    metrics = classification_metrics("multi_label_classification")(EvalPred(logits, labels))
    # class 0: the positive has the top logit (AP 1); class 1: positives ranked 1st and 2nd (AP 1)
    assert metrics["mean_average_precision"] == 1.0
    assert metrics["accuracy"] == pytest.approx(np.mean((logits > 0) == labels))
    sigmoid = 1 / (1 + np.exp(-logits))
    assert mean_average_precision(sigmoid, labels) < 1.0  # the saturated sigmoid ties the first three videos
    # inferred from 2-D labels of the logits' shape when problem_type is not given
    assert classification_metrics()(EvalPred(logits, labels)) == metrics


def test_trainer_evaluate_reports_map_of_a_multi_label_classifier(tmp_path):
    """Trainer + the package's collator on multi-hot labels: eval_mean_average_precision is the mAP of the model's
    own logits (recomputed here), and the model trains with BCE (problem_type multi_label_classification)."""
    import datasets
    from transformers import Trainer, TrainingArguments

    from bytevid_hf import BytesVideoConfig, BytesVideoForClassification, BytesVideoProcessor
    from bytevid_hf.training.finetune import BytesVideoCollator

    rng = np.random.default_rng(0)
    labels = [[1, 0, 1], [0, 1, 0], [1, 1, 0], [0, 0, 1], [1, 0, 0], [0, 1, 1]]
    rows = [{"video": rng.integers(0, 256, 200 + 30 * i, dtype=np.uint8).tobytes(), "label": y}
            for i, y in enumerate(labels)]
    data = datasets.Dataset.from_list(rows, features=datasets.Features(
        {"video": datasets.Value("binary"), "label": datasets.Sequence(datasets.Value("float32"))}))
    torch.manual_seed(0)
    model = BytesVideoForClassification(BytesVideoConfig.from_preset(
        "bytes-micro", num_labels=3, problem_type="multi_label_classification")).eval()
    args = TrainingArguments(str(tmp_path), per_device_eval_batch_size=4, report_to=[], use_cpu=True,
                             disable_tqdm=True, remove_unused_columns=False)
    collate = BytesVideoCollator(BytesVideoProcessor())
    trainer = Trainer(model=model, args=args, eval_dataset=data, data_collator=collate,
                      compute_metrics=classification_metrics(model.config.problem_type))
    metrics = trainer.evaluate()
    with torch.no_grad():
        batch = collate(rows)
        logits = model(batch["input_ids"], attention_mask=batch["attention_mask"]).logits.numpy()
    assert metrics["eval_mean_average_precision"] == pytest.approx(brute_force_map(logits, np.array(labels)), abs=1e-6)
    expected_loss = torch.nn.functional.binary_cross_entropy_with_logits(torch.tensor(logits), torch.tensor(labels,
                                                                         dtype=torch.float32))
    assert metrics["eval_loss"] == pytest.approx(float(expected_loss), abs=1e-5)


def test_run_finetuning_on_multi_hot_labels_reports_map(tmp_path):
    """The scripts' path (run_finetuning) on a dataset of multi-hot label vectors: BCE training (problem_type inferred
    from the float labels and saved), and eval_mean_average_precision equal to the mAP of the saved checkpoint's
    logits, recomputed here one video at a time."""
    import datasets
    from transformers import TrainingArguments

    from bytevid_hf.testing.baselines import checkpoint_logits
    from bytevid_hf.training.finetune import DataArguments, ModelArguments, run_finetuning

    rng = np.random.default_rng(1)
    features = datasets.Features({"video": datasets.Value("binary"),
                                  "label": datasets.Sequence(datasets.Value("float32"), length=3)})

    def rows(n):
        return [{"video": rng.integers(0, 256, 300, dtype=np.uint8).tobytes(),
                 "label": [float(x) for x in (rng.random(3) < 0.5)]} for _ in range(n)]

    test_rows = rows(6)
    test_rows[0]["label"] = [1.0, 1.0, 1.0]  # every class has a positive
    datasets.DatasetDict(train=datasets.Dataset.from_list(rows(4), features=features),
                         test=datasets.Dataset.from_list(test_rows, features=features)).save_to_disk(str(tmp_path / "d"))
    args = TrainingArguments(str(tmp_path / "out"), per_device_train_batch_size=2, max_steps=2, report_to=[],
                             use_cpu=True, save_strategy="no", disable_tqdm=True)
    torch.manual_seed(0)
    metrics = run_finetuning(ModelArguments(preset="bytes-micro"), DataArguments(dataset_path=str(tmp_path / "d")), args)
    from bytevid_hf import BytesVideoConfig

    assert BytesVideoConfig.from_pretrained(tmp_path / "out").problem_type == "multi_label_classification"
    logits = checkpoint_logits(tmp_path / "out", [r["video"] for r in test_rows]).numpy()
    labels = np.array([r["label"] for r in test_rows])
    assert metrics["eval_mean_average_precision"] == pytest.approx(brute_force_map(logits, labels), abs=1e-6)
