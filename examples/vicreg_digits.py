"""Pretrain VICReg on the embedded digits from Python, then probe the frozen encoder.

python examples/vicreg_digits.py            # 60 epochs, about 1.5 minutes on 2 CPU cores
python examples/vicreg_digits.py --quick    # 2 epochs, a smoke test
"""

from __future__ import annotations

import argparse
import tempfile

from eblearn.app import pretrain
from eblearn.evaluate import evaluate_encoder, evaluate_raw_pixels
from eblearn.train import TrainConfig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 epochs, small networks")
    args = parser.parse_args()

    config = TrainConfig(method="vicreg", data="digits", progress_bar=not args.quick)
    if args.quick:
        config.epochs = 2
        config.backbone_args = {"width": 8}
        config.method_args = {"projector_dims": [64, 64]}
    with tempfile.TemporaryDirectory() as run_dir:
        config.run_dir = run_dir
        run = pretrain(config)  # the energy ||z - z'||², kept from collapsing by VICReg's terms
        ours = evaluate_encoder(run.method.encoder, run.data, run.eval_transform)
    pixels = evaluate_raw_pixels(run.data)
    print(f"{'probe':<22}{'VICReg':>8}{'pixels':>8}")
    print(f"{'kNN':<22}{ours.knn:>8.1%}{pixels.knn:>8.1%}")
    print(f"{'linear':<22}{ours.linear:>8.1%}{pixels.linear:>8.1%}")
    print(f"{'linear, 10% labels':<22}{ours.few_label[0.1]:>8.1%}{pixels.few_label[0.1]:>8.1%}")


if __name__ == "__main__":
    main()
