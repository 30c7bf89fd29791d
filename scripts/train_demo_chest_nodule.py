"""Train the demonstration model ``demo-chest-nodule`` on synthetic phantoms and export it to ONNX.

NOT FOR CLINICAL USE: the model has only ever seen drawn shapes (senhealth.imaging.models.phantom); it
exists so that the imaging AI pipeline (registry, inference, structured report, segmentation, review) runs
end to end with no download.

Needs the optional extra ``train`` (``pip install -e '.[train]'``: torch 2.13.0, the CPU build, and onnx).
Takes a few minutes on two cores::

    python scripts/train_demo_chest_nodule.py            # writes senhealth/imaging/models/data/
    python scripts/train_demo_chest_nodule.py --quick    # a smaller run, to check the script

What it does:

1. phantoms drawn at 256×256 as 12-bit pixels (as a DICOM file would hold them), taken to the model input
   by the very preprocessing inference uses (:func:`senhealth.imaging.models.preprocess.preprocess`);
   the nodule mask is reduced to the 32×32 heatmap grid;
2. a small fully convolutional network (four 3×3 convolution blocks, three poolings): a 32×32 heatmap
   of logits; the study's logit is the heatmap's maximum (so the overlay and the probability agree);
   loss: binary cross-entropy of the study's label plus that of the heatmap against the reduced mask;
3. validation on a held-out set drawn with another seed (never seen in training): ROC AUC, sensitivity
   and specificity at the operating threshold, by nodule size too, and the Dice coefficient of the
   heatmap thresholded at 0.5 on the positive cases;
4. ONNX export (opset 17, a dynamic batch), checked by onnx.checker and by onnxruntime against torch;
   the model card (JSON) is written beside it with the metrics and the file's SHA-256.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn

from senhealth.imaging.models.phantom import phantom, to_pixels
from senhealth.imaging.models.preprocess import preprocess

DATA = Path(__file__).resolve().parents[1] / "senhealth" / "imaging" / "models" / "data"
NAME = "demo-chest-nodule"
VERSION = "1.0.0"
SOURCE_SIZE = 256
INPUT_SIZE = 128
GRID = 32
THRESHOLD = 0.5
URGENT_THRESHOLD = 0.8


class NoduleNet(nn.Module):
    """A 32×32 heatmap of logits; the study's logit is its maximum."""

    def __init__(self) -> None:
        super().__init__()

        def block(cin: int, cout: int) -> nn.Sequential:
            return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU())

        self.features = nn.Sequential(
            block(1, 8),
            nn.MaxPool2d(2),  # 64
            block(8, 16),
            nn.MaxPool2d(2),  # 32
            block(16, 24),
            block(24, 24),
        )
        self.context = nn.Sequential(
            nn.Conv2d(24, 24, 3, padding=2, dilation=2), nn.BatchNorm2d(24), nn.ReLU()
        )
        self.head = nn.Conv2d(24, 1, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f = self.features(x)
        logits = self.head(self.context(f) + f)
        study = torch.amax(logits, dim=(2, 3))
        return study, logits


class Exported(nn.Module):
    """What the ONNX file computes: probabilities (the study's, then the heatmap's)."""

    def __init__(self, net: NoduleNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        study, logits = self.net(image)
        return torch.sigmoid(study), torch.sigmoid(logits)


def make_set(n: int, seed: int) -> dict[str, NDArray[Any]]:
    rng = np.random.default_rng(seed)
    x = np.zeros((n, 1, INPUT_SIZE, INPUT_SIZE), dtype=np.float32)
    m = np.zeros((n, 1, GRID, GRID), dtype=np.float32)
    y = np.zeros((n, 1), dtype=np.float32)
    radius = np.zeros(n, dtype=np.float32)
    f = SOURCE_SIZE // GRID
    for i in range(n):
        p = phantom(rng, size=SOURCE_SIZE)
        x[i, 0] = preprocess(to_pixels(p.image), size=INPUT_SIZE)
        m[i, 0] = p.mask.reshape(GRID, f, GRID, f).mean(axis=(1, 3)) >= 0.25
        if p.nodule is not None:
            y[i, 0] = 1.0
            radius[i] = p.nodule.radius
            m[i, 0, int(p.nodule.row) // f, int(p.nodule.col) // f] = 1.0  # a small nodule keeps its cell
    return {"x": x, "m": m, "y": y, "radius": radius}


def roc_auc(scores: NDArray[Any], labels: NDArray[Any]) -> float:
    """Area under the ROC curve (Mann–Whitney U, ties counted half)."""
    pos = scores[labels == 1]
    neg = scores[labels == 0]
    greater = int((pos[:, None] > neg[None, :]).sum())
    ties = int((pos[:, None] == neg[None, :]).sum())
    return float((greater + 0.5 * ties) / (len(pos) * len(neg)))


def evaluate(net: NoduleNet, data: dict[str, NDArray[Any]]) -> dict[str, Any]:
    net.eval()
    probs, heats = [], []
    with torch.no_grad():
        for i in range(0, len(data["x"]), 256):
            study, logits = net(torch.from_numpy(data["x"][i : i + 256]))
            probs.append(torch.sigmoid(study).numpy()[:, 0])
            heats.append(torch.sigmoid(logits).numpy())
    p = np.concatenate(probs)
    h = np.concatenate(heats)
    y = data["y"][:, 0]
    call = p >= THRESHOLD
    pos = y == 1
    big = pos & (data["radius"] >= 0.05 * SOURCE_SIZE)
    small = pos & ~big
    dice = []
    for k in np.flatnonzero(pos):
        a = h[k, 0] >= 0.5
        b = data["m"][k, 0] >= 0.5
        dice.append(2 * float((a & b).sum()) / max(float(a.sum() + b.sum()), 1.0))
    return {
        "cases": len(y),
        "positives": int(pos.sum()),
        "auc": round(roc_auc(p, y), 4),
        "threshold": THRESHOLD,
        "sensitivity": round(float(call[pos].mean()), 4),
        "specificity": round(float((~call[~pos]).mean()), 4),
        "accuracy": round(float((call == pos).mean()), 4),
        "sensitivity_radius_ge_5pct": round(float(call[big].mean()), 4),
        "sensitivity_radius_lt_5pct": round(float(call[small].mean()), 4),
        "dice_heatmap_positives": round(float(np.mean(dice)), 4),
    }


def train(args: argparse.Namespace) -> None:
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    tr = make_set(args.train, args.seed)
    va = make_set(args.validation, args.seed + 1_000_003)
    print(
        f"data: {args.train} training, {args.validation} validation in {time.perf_counter() - started:.0f} s"
    )
    net = NoduleNet()
    opt = torch.optim.AdamW(net.parameters(), lr=3e-3, weight_decay=1e-4)
    steps = args.epochs * ((args.train + args.batch - 1) // args.batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=steps)
    bce = nn.BCEWithLogitsLoss()
    pos_weight = torch.tensor([20.0])  # the nodule covers a few heatmap cells
    x, m, y = (torch.from_numpy(tr[k]) for k in ("x", "m", "y"))
    gen = torch.Generator().manual_seed(args.seed)
    for epoch in range(args.epochs):
        net.train()
        order = torch.randperm(len(x), generator=gen)
        total = 0.0
        for i in range(0, len(x), args.batch):
            idx = order[i : i + args.batch]
            xb = x[idx]
            if torch.rand(1, generator=gen).item() < 0.5:  # the patient's left and right look alike
                xb, mb = torch.flip(xb, dims=[3]), torch.flip(m[idx], dims=[3])
            else:
                mb = m[idx]
            study, logits = net(xb)
            loss = bce(study, y[idx]) + nn.functional.binary_cross_entropy_with_logits(
                logits, mb, pos_weight=pos_weight
            )
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(idx)
        metrics = evaluate(net, va)
        print(
            f"epoch {epoch + 1}/{args.epochs}: loss {total / len(x):.4f}, validation AUC {metrics['auc']}, "
            f"sensitivity {metrics['sensitivity']}, specificity {metrics['specificity']}, "
            f"{time.perf_counter() - started:.0f} s"
        )
    metrics = evaluate(net, va)
    seconds = time.perf_counter() - started
    export(net, metrics, args, seconds)


def export(net: NoduleNet, metrics: dict[str, Any], args: argparse.Namespace, seconds: float) -> None:
    import onnx
    import onnxruntime as ort  # type: ignore[import-untyped]

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{NAME}.onnx"
    wrapped = Exported(net).eval()
    sample = torch.zeros(1, 1, INPUT_SIZE, INPUT_SIZE)
    torch.onnx.export(
        wrapped,
        (sample,),
        str(path),
        input_names=["image"],
        output_names=["probability", "heatmap"],
        dynamic_axes={"image": {0: "batch"}, "probability": {0: "batch"}, "heatmap": {0: "batch"}},
        opset_version=17,
        dynamo=False,
    )
    model = onnx.load(str(path))
    onnx.checker.check_model(model)
    model.producer_name = "senhealth scripts/train_demo_chest_nodule.py"
    model.doc_string = "demo-chest-nodule: DEMONSTRATION ONLY, NOT FOR CLINICAL USE (synthetic phantoms)"
    onnx.save(model, str(path))
    check = make_set(8, args.seed + 7)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {"image": check["x"]})
    with torch.no_grad():
        want = wrapped(torch.from_numpy(check["x"]))
    assert np.allclose(got[0], want[0].numpy(), atol=1e-4), "onnxruntime and torch disagree"
    assert np.allclose(got[1], want[1].numpy(), atol=1e-4), "onnxruntime and torch disagree"
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    card = {
        "name": NAME,
        "version": VERSION,
        "title": "Demonstration lung nodule detector (synthetic phantoms)",
        "title_vi": "Mô hình minh họa phát hiện nốt phổi (ảnh giả lập)",
        "manufacturer": "Sen Health project",
        "regulatory_status": "demonstration — not for clinical use",
        "regulatory_status_vi": "minh họa — không dùng cho lâm sàng",
        "licence": "Apache-2.0",
        "intended_use": (
            "Demonstration of the platform's imaging AI pipeline only. Flags a bright round nodule in a "
            "lung field of a synthetic frontal chest phantom. Trained and validated on generated images, "
            "never on real radiographs: its output on a real image means nothing. Not a medical device; "
            "not for clinical use."
        ),
        "intended_use_vi": (
            "Chỉ để minh họa quy trình AI chẩn đoán hình ảnh của nền tảng. Đánh dấu nốt tròn sáng trong phế "
            "trường của ảnh X quang ngực giả lập. Được huấn luyện và thẩm định trên ảnh sinh ra, chưa từng "
            "trên phim thật: kết quả trên ảnh thật không có ý nghĩa. Không phải trang thiết bị y tế; không "
            "dùng cho lâm sàng."
        ),
        "modalities": ["DX", "CR"],
        "body_parts": ["CHEST"],
        "file": path.name,
        "sha256": digest,
        "input": {
            "name": "image",
            "shape": [None, 1, INPUT_SIZE, INPUT_SIZE],
            "size": INPUT_SIZE,
            "preprocessing": "senhealth.imaging.models.preprocess.preprocess",
        },
        "outputs": {"probability": "probability", "heatmap": "heatmap", "heatmap_size": GRID},
        "finding": {
            "system": "http://snomed.info/sct",
            "code": "27925004",
            "display": "Nodule",
            "site_code": "39607008",
            "site_display": "Lung",
            "text_vi": "Nốt phổi",
        },
        "threshold": THRESHOLD,
        "urgent_threshold": URGENT_THRESHOLD,
        "training": {
            "data": f"{args.train} synthetic phantoms ({SOURCE_SIZE}x{SOURCE_SIZE}, half with a nodule), seed {args.seed}",
            "epochs": args.epochs,
            "framework": f"torch {torch.__version__}",
            "seconds": round(seconds),
            "threads": args.threads,
            "script": "scripts/train_demo_chest_nodule.py",
            "date": datetime.now(UTC).date().isoformat(),
        },
        "validation": {
            "data": f"{args.validation} held-out synthetic phantoms drawn with another seed",
            **metrics,
        },
    }
    (out / f"{NAME}.json").write_text(json.dumps(card, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(card["validation"], indent=2))
    print(f"wrote {path} ({path.stat().st_size} bytes) and {NAME}.json")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=6000)
    parser.add_argument("--validation", type=int, default=2000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--seed", type=int, default=20260101)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default=str(DATA))
    parser.add_argument("--quick", action="store_true", help="400 phantoms, 1 epoch: checks the script")
    args = parser.parse_args()
    if args.quick:
        args.train, args.validation, args.epochs = 400, 200, 1
    train(args)


if __name__ == "__main__":
    main()
