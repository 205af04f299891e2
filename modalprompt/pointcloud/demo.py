"""The point-cloud rows of ``modalprompt demo``: two comparisons on a shipped Point-MAE backbone.

The backbone is a 4 x 64 :class:`~modalprompt.pointcloud.backbones.PointTransformer` (16
patches of 16 points) pre-trained with Point-MAE on clean procedural shapes; it ships with the
library (:mod:`modalprompt.pointcloud.demo_checkpoint`, 1.1 MB), so nothing is pre-trained or
downloaded here. Each method tunes a fresh copy on 8-way ``SyntheticShapes``, 10 shots per
class, selected on a small validation set; accuracy on held-out shapes.

* **IDPT vs VPT under noise.** IDPT's claim (Zha et al., ICCV'23) is that static prompts fit
  real scans badly because the noise differs per instance (jitter, outliers, missing points), and
  that a prompt made from each instance's own patch tokens copes. Training and test shapes here
  carry that noise: Gaussian jitter, 5% of the points replaced by uniform outliers, up to half
  the points dropped; ``vpt_deep`` learns static prompt tokens in every block.
* **Point-PEFT vs full fine-tuning** on the clean shapes: Point-PEFT (Tang et al., AAAI'24)
  trains a few percent of the parameters; full fine-tuning trains all of them. On this tiny
  backbone the official classification head (two 256-wide layers, trained by every method) is
  most of what Point-PEFT trains, so the note gives its prompts and adapters alone, as a share of
  the backbone.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import torch
from torch.utils.data import Dataset

__all__ = ["run", "NoisyShapes"]

_NUM_POINTS, _SHOTS, _CLASSES = 256, 10, 8


class NoisyShapes(Dataset):
    """``base`` items with jitter, uniform outliers and dropped points, fixed per item (seeded).

    Shapes:
        item: ``(points (N, 3), label)`` as ``base`` gives it, N unchanged.
    """

    def __init__(
        self,
        base: Dataset,
        jitter: float = 0.02,
        outliers: float = 0.05,
        max_dropout: float = 0.5,
        seed: int = 0,
    ) -> None:
        from modalprompt.pointcloud.datasets.transforms import AddOutliers, Jitter, PointDropout

        self.base, self.seed = base, seed
        self.transforms = (Jitter(jitter, 0.05), PointDropout(max_dropout), AddOutliers(outliers))

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        points, label = self.base[index]
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + index)
        for transform in self.transforms:
            points = transform(points, generator)
        return points, label


def _splits(noisy: bool, quick: bool) -> tuple[Dataset, Dataset, Dataset]:
    from modalprompt.pointcloud.datasets import SyntheticShapes

    sizes = (_CLASSES * _SHOTS, 32, 80 if quick else 240)
    sets = [SyntheticShapes(n, _NUM_POINTS, seed=s) for n, s in zip(sizes, (1, 2, 3))]
    if noisy:
        sets = [NoisyShapes(d, seed=10 + i) for i, d in enumerate(sets)]
    return sets[0], sets[1], sets[2]


def run(quick: bool = False, emit: Callable[[Any], None] | None = None) -> list:
    """Tune each method from the shipped checkpoint; one :class:`DemoResult` per method."""
    import modalprompt as mp
    from modalprompt.demo import DemoResult
    from modalprompt.pointcloud.demo_checkpoint import BACKBONE_NAME, load_demo_backbone

    reference = load_demo_backbone()
    depth, backbone_size = reference.config.depth, sum(p.numel() for p in reference.parameters())
    comparisons = {
        "IDPT vs VPT under noise": (
            True,
            {
                "idpt": ("method", {"prompt_layer": depth - 1, "k": 8, "head_dropout": 0.0}),
                "vpt_deep": ("baseline", {"num_prompts": 4, "head_dropout": 0.0}),
            },
        ),
        "Point-PEFT vs full fine-tuning": (
            False,
            {
                "point_peft": (
                    "method",
                    {
                        "prompt_layers": 2,
                        "top_k": 8,
                        "num_prompts": 10,
                        "ga_groups": 8,
                        "ga_group_size": 4,
                        "ga_heads": 4,
                        "head_dropout": 0.0,
                    },
                ),
                "full_finetune": ("baseline", {}),
            },
        ),
    }
    rows: list = []
    for pair, (noisy, methods) in comparisons.items():
        train, val, test = _splits(noisy, quick)
        task = f"SyntheticShapes 8-way {_SHOTS}-shot" + (", noisy" if noisy else "")
        for method, (role, overrides) in methods.items():
            start = time.perf_counter()
            torch.manual_seed(0)
            backbone = load_demo_backbone()
            config = mp.get_config(method, num_classes=_CLASSES, **overrides)
            model = mp.get_prompt_model(backbone, config)
            if method == "point_peft":
                model.build_memory_bank(train)  # the P²-Bank: features of the training shapes
            args = mp.TrainingArguments(
                max_epochs=3 if quick else 12,
                batch_size=16,
                lr=1e-3 if method == "full_finetune" else 5e-3,
                weight_decay=0.05,
                scheduler="cosine",
                seed=0,
                verbose=False,
                tensorboard=False,
            )
            trainer = mp.Trainer(model, args, train_data=train, eval_data=val)
            trainer.fit()
            accuracy = trainer.evaluate(test)["accuracy"]
            seconds = time.perf_counter() - start
            trainable = model.num_parameters(True)
            note = ""
            if method == "point_peft":  # the official 256-wide head dominates a 4 x 64 backbone
                own = trainable - sum(p.numel() for p in model.head.parameters())
                note = f"{own:,} trained outside the head ({100 * own / backbone_size:.1f}%)"
            row = DemoResult(
                "pointcloud",
                task,
                method,
                100 * trainable / model.num_parameters(),
                "accuracy",
                accuracy,
                seconds,
                backbone=BACKBONE_NAME,
                role=role,
                pair=pair,
                trainable_params=trainable,
                note=note,
            )
            rows.append(row)
            if emit is not None:
                emit(row)
    return rows
