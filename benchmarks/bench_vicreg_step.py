"""A VICReg training step: eblearn against lightly's loss and heads, same backbone and batch.

Both sides get the same backbone weights, the same two batches of views, the same projector
sizes and SGD; each repetition times one full step (forward of both views, loss, backward,
optimizer step) of each side in alternation, and the backbone alone (forward + backward of
both views) to measure what the method adds on top of it.

    python benchmarks/bench_vicreg_step.py            # CPU, about 3 minutes
    python benchmarks/bench_vicreg_step.py --repeats 30 --device cuda
"""

from __future__ import annotations

import argparse
import copy

import torch
from _report import append_section, interleaved_medians, markdown_table
from lightly.loss import VICRegLoss as LightlyVICRegLoss
from lightly.models.modules.heads import VICRegProjectionHead

from eblearn.methods import VICReg
from eblearn.nn import build_backbone

SETTINGS = [
    # (backbone, batch, image side, projector width)
    ("convnet", 256, 32, 2048),
    ("resnet18", 64, 32, 2048),
]


def make_steps(backbone_name: str, batch: int, side: int, width: int, device: torch.device):
    backbone = build_backbone(backbone_name, 3, side).to(device)
    ours = VICReg(copy.deepcopy(backbone), projector_dims=(width, width, width)).to(device)
    theirs_backbone = copy.deepcopy(backbone)
    theirs_head = VICRegProjectionHead(backbone.feature_dim, width, width, num_layers=3).to(device)
    theirs_loss = LightlyVICRegLoss()
    views = [torch.randn(batch, 3, side, side, device=device) for _ in range(2)]
    ours_optimizer = torch.optim.SGD(ours.parameters(), lr=1e-3, momentum=0.9)
    theirs_parameters = [*theirs_backbone.parameters(), *theirs_head.parameters()]
    theirs_optimizer = torch.optim.SGD(theirs_parameters, lr=1e-3, momentum=0.9)
    plain = copy.deepcopy(backbone)

    def eblearn_step() -> None:
        ours_optimizer.zero_grad(set_to_none=True)
        ours(views)["loss"].backward()
        ours_optimizer.step()

    def lightly_step() -> None:
        theirs_optimizer.zero_grad(set_to_none=True)
        z_a = theirs_head(theirs_backbone(views[0]))
        z_b = theirs_head(theirs_backbone(views[1]))
        theirs_loss(z_a, z_b).backward()
        theirs_optimizer.step()

    def backbone_only() -> None:
        plain.zero_grad(set_to_none=True)
        (plain(views[0]).sum() + plain(views[1]).sum()).backward()

    return {"eblearn": eblearn_step, "lightly": lightly_step, "backbone": backbone_only}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.manual_seed(0)
    rows = []
    for backbone, batch, side, width in SETTINGS:
        medians = interleaved_medians(
            make_steps(backbone, batch, side, width, device), args.repeats
        )
        ours, theirs, base = medians["eblearn"], medians["lightly"], medians["backbone"]
        rows.append(
            [
                f"{backbone}, batch {batch}, {side} px, projector {width}×3",
                f"{1000 * ours:.1f}",
                f"{1000 * theirs:.1f}",
                f"{theirs / ours:.3f}",
                f"{1000 * base:.1f}",
                f"{100 * (ours - base) / base:.1f}%",
            ]
        )
    table = markdown_table(
        [
            "setting",
            "eblearn ms/step",
            "lightly ms/step",
            "speed ratio (lightly/eblearn)",
            "backbone fwd+bwd ms",
            "eblearn overhead over backbone",
        ],
        rows,
    )
    append_section(
        "VICReg training step vs lightly",
        f"Medians of {args.repeats} interleaved repetitions on {device}. A ratio ≥ 1 means "
        "eblearn's step is at least as fast. The overhead column is what the projector, the "
        "loss and the optimizer step add to the backbone's forward and backward passes (with "
        "a 2048-wide three-layer projector that overhead is the projector itself, not the "
        f"engine).\n\n{table}",
    )


if __name__ == "__main__":
    main()
