#!/usr/bin/env python
"""Evidence that the built-in synthetic task (``bytevid_hf.data.synthetic``) is learnable from
the encoded bytes, while the file size alone is uninformative.

Prints:
  1. generation time of ``--num-videos`` clips with ``--num-proc`` workers, bytes per clip;
  2. how often libx264's own scene-cut detection put an IDR exactly at every true cut
     (demuxing only; no frame is decoded);
  3. chance accuracy and the accuracy of ``SizeOnlyClassifier`` on the held-out split;
  4. byte-level probes that never decode frames or parse the container:
       - a counting rule on the 2-byte pattern ``65 88`` (IDR NAL header + first slice
         header byte) and on the 6-byte buffering-period SEI prefix ``00 00 00 09 06 00``,
       - multinomial logistic regression on the 256-bin byte histogram,
       - a tiny byte CNN (embedding -> conv -> pooled -> linear, 8k parameters) trained
         from scratch on the raw bytes for ``--cnn-seconds``.

Usage: python scripts/probe_synthetic.py [--num-videos 600 --num-train 400 --num-proc 2
       --cnn-seconds 150 --cnn-pool sum]
Takes about 3 minutes on 2 CPU cores (most of it the CNN).
"""

from __future__ import annotations

import argparse
import io
import time

import numpy as np


def keyframe_agreement(task, rows) -> tuple[float, dict[int, dict[int, int]]]:
    """Fraction of clips whose keyframes are exactly {0} + true cuts, and the keyframe
    count distribution per class (from the mp4 index; nothing is decoded)."""
    import av

    exact = 0
    dist: dict[int, dict[int, int]] = {}
    for r in rows:
        with av.open(io.BytesIO(r["video"])) as c:
            kf = [i for i, p in enumerate(c.demux(video=0)) if p.size and p.is_keyframe]
        _, cuts = task.render(r["label"], r["seed"])
        exact += kf == [0, *cuts]
        d = dist.setdefault(r["label"], {})
        d[len(kf)] = d.get(len(kf), 0) + 1
    return exact / len(rows), dist


def pattern_count(video: bytes, pattern: bytes) -> int:
    return video.count(pattern)


def logistic_regression(xtr, ytr, xte, num_classes, l2=1e-3, steps=300):
    import torch

    torch.manual_seed(0)
    xtr, xte = torch.tensor(xtr, dtype=torch.float32), torch.tensor(xte, dtype=torch.float32)
    mu, sd = xtr.mean(0), xtr.std(0) + 1e-6
    xtr, xte = (xtr - mu) / sd, (xte - mu) / sd
    ytr = torch.tensor(ytr)
    lin = torch.nn.Linear(xtr.shape[1], num_classes)
    opt = torch.optim.LBFGS(lin.parameters(), max_iter=steps, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(lin(xtr), ytr) + l2 * lin.weight.square().sum()
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        return lin(xte).argmax(1).numpy()


def byte_cnn(train, test, num_classes, seconds, pool="sum", lr=1e-2, seed=0, report_every=30.0):
    """Tiny byte CNN trained from scratch on the raw bytes for ``seconds`` of wall time.

    embedding(257 -> 16) -> conv1d(k=6, 32) -> relu -> conv1d(k=1, 32) -> relu ->
    sum pooling (/1000) or mean pooling over positions -> linear. Returns
    (test accuracy, epochs, params, [(seconds, epoch, test accuracy), ...]).
    """
    import torch
    import torch.nn as nn

    torch.manual_seed(seed)
    pad = 256

    def batchify(rows):
        n = max(len(r["video"]) for r in rows)
        x = torch.full((len(rows), n), pad, dtype=torch.long)
        for i, r in enumerate(rows):
            v = torch.frombuffer(bytearray(r["video"]), dtype=torch.uint8)
            x[i, : v.numel()] = v.long()
        return x, torch.tensor([r["label"] for r in rows])

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(257, 16, padding_idx=pad)
            self.conv = nn.Conv1d(16, 32, kernel_size=6)
            self.mix = nn.Conv1d(32, 32, kernel_size=1)
            self.head = nn.Linear(32, num_classes)

        def forward(self, x):
            mask = (x != pad).float()[:, None, 5:]  # conv outputs over real bytes
            h = self.emb(x).transpose(1, 2)
            h = torch.relu(self.mix(torch.relu(self.conv(h)))) * mask
            if pool == "sum":
                z = h.sum(-1) / 1000.0
            else:
                z = h.sum(-1) / mask.sum(-1).clamp(min=1)
            return self.head(z)

    net = Net()
    params = sum(p.numel() for p in net.parameters())
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-2)
    xte, yte = batchify(test)

    def evaluate():
        net.eval()
        with torch.no_grad():
            pred = torch.cat([net(xte[i : i + 50]).argmax(1) for i in range(0, len(test), 50)])
        net.train()
        return float((pred == yte).float().mean())

    rng = np.random.default_rng(seed)
    t0, epochs, curve, next_report = time.time(), 0, [], report_every
    while time.time() - t0 < seconds:
        order = rng.permutation(len(train))
        for s in range(0, len(order), 16):
            x, y = batchify([train[i] for i in order[s : s + 16]])
            loss = nn.functional.cross_entropy(net(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            if time.time() - t0 > seconds:
                break
        epochs += 1
        if time.time() - t0 >= next_report:
            curve.append((time.time() - t0, epochs, evaluate()))
            print(f"      {curve[-1][0]:5.0f} s  epoch {epochs:3d}  test acc {curve[-1][2]:.3f}", flush=True)
            next_report += report_every
    return evaluate(), epochs, params, curve


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--num-videos", type=int, default=600)
    ap.add_argument("--num-train", type=int, default=400)
    ap.add_argument("--num-proc", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cnn-seconds", type=float, default=150.0, help="CNN training time; 0 skips")
    ap.add_argument("--cnn-pool", choices=["sum", "mean"], default="sum")
    ap.add_argument("--size-check-videos", type=int, default=1000,
                    help="extra train/test clips for a larger size-only check; 0 skips")
    args = ap.parse_args()

    import torch

    torch.set_num_threads(max(1, args.num_proc))

    from bytevid_hf.experiments.baselines import SizeOnlyClassifier, chance_accuracy
    from bytevid_hf.data.synthetic import SyntheticVideoTask

    task = SyntheticVideoTask()
    print(f"task: {task}")
    print(f"x264-params (at the nominal bitrate): {task.x264_params()}")

    t0 = time.time()
    rows = task.generate(args.num_videos, seed=args.seed, num_proc=args.num_proc, progress=False)
    dt = time.time() - t0
    sizes = np.array([len(r["video"]) for r in rows])
    labels = np.array([r["label"] for r in rows])
    print(f"\n[1] generated {len(rows)} clips with num_proc={args.num_proc} in {dt:.1f} s; "
          f"bytes per clip: mean {sizes.mean():.0f}, min {sizes.min()}, max {sizes.max()}")
    for k in range(task.num_classes):
        s = sizes[labels == k]
        ff = np.mean([np.count_nonzero(np.frombuffer(r["video"], np.uint8) == 0xFF) / len(r["video"])
                      for r in rows if r["label"] == k])
        print(f"    class {k} ({task.id2label[k]}): n={s.size} size mean {s.mean():.0f} sd {s.std():.0f}"
              f"  fraction of 0xFF bytes (filler) {ff:.3f}")

    agree, dist = keyframe_agreement(task, rows)
    print(f"\n[2] IDR pictures exactly at the true cuts (x264 scene-cut detection): {agree:.3f}")
    for k in sorted(dist):
        print(f"    class {k}: keyframe count histogram {dict(sorted(dist[k].items()))}")

    train, test = rows[: args.num_train], rows[args.num_train :]
    ytr = np.array([r["label"] for r in train])
    yte = np.array([r["label"] for r in test])
    str_ = np.array([len(r["video"]) for r in train])
    ste = np.array([len(r["video"]) for r in test])
    size_clf = SizeOnlyClassifier().fit(str_, ytr)
    print(f"\n[3] held-out split: {len(train)} train / {len(test)} test")
    print(f"    chance (majority class):        {chance_accuracy(ytr, yte):.3f}")
    print(f"    SizeOnlyClassifier (file size): {size_clf.score(ste, yte):.3f}  "
          f"(bins chosen by CV: {size_clf.num_bins_})")

    if args.size_check_videos > 0:
        n = args.size_check_videos
        big_tr = task.generate(n, seed=args.seed + 101, num_proc=args.num_proc, progress=False)
        big_te = task.generate(n, seed=args.seed + 202, num_proc=args.num_proc, progress=False)
        big = SizeOnlyClassifier().fit([len(r["video"]) for r in big_tr], [r["label"] for r in big_tr])
        acc = big.score([len(r["video"]) for r in big_te], [r["label"] for r in big_te])
        print(f"    SizeOnlyClassifier, larger check ({n} train / {n} test clips): {acc:.3f} "
              f"(bins {big.num_bins_}; chance {1 / task.num_classes:.3f})")

    print("\n[4] byte-level probes (no decoding, no container parsing)")
    for name, pat in [("'65 88' (IDR NAL header)", b"\x65\x88"),
                      ("'00 00 00 09 06 00' (buffering-period SEI)", b"\x00\x00\x00\x09\x06\x00")]:
        pred = np.clip([pattern_count(r["video"], pat) - 1 for r in test], 0, task.num_classes - 1)
        print(f"    rule: label = count of {name} - 1:   {np.mean(pred == yte):.3f}")

    def hist(rs):
        return np.stack([np.bincount(np.frombuffer(r["video"], np.uint8), minlength=256)
                         / len(r["video"]) for r in rs])

    pred = logistic_regression(hist(train), ytr, hist(test), task.num_classes)
    print(f"    logistic regression on the 256-bin byte histogram: {np.mean(pred == yte):.3f}")
    if args.cnn_seconds > 0:
        print(f"    tiny byte CNN, {args.cnn_pool} pooling, trained {args.cnn_seconds:.0f} s "
              f"on {torch.get_num_threads()} threads:")
        acc, epochs, params, _ = byte_cnn(train, test, task.num_classes, args.cnn_seconds,
                                          pool=args.cnn_pool)
        print(f"    tiny byte CNN ({params} params, {epochs} epochs): test accuracy {acc:.3f}")


if __name__ == "__main__":
    main()
