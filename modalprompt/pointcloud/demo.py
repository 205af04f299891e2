"""The point-cloud part of ``modalprompt demo``: pre-train, then prompt-tune, on procedural shapes.

A small point transformer is pre-trained with Point-MAE on unlabelled ``SyntheticShapes`` (no
checkpoint ships with the library), frozen, and tuned on a few labelled shapes per class with
each method; accuracy on held-out shapes.
"""

from __future__ import annotations

import time

import torch

__all__ = ["run"]


def run(quick: bool = False) -> list:
    import modalprompt as mp
    from modalprompt.demo import DemoResult
    from modalprompt.pointcloud.backbones import PointTransformer, PointTransformerConfig
    from modalprompt.pointcloud.datasets import SyntheticShapes
    from modalprompt.pointcloud.pretrain.point_mae import pretrain_point_mae

    num_points = 256
    config = PointTransformerConfig(
        trans_dim=64, depth=4, num_heads=4, encoder_dims=64, num_group=16, group_size=16
    )
    start = time.perf_counter()
    torch.manual_seed(0)
    encoder = PointTransformer(config)
    corpus = SyntheticShapes(96 if quick else 512, num_points, seed=100)
    pretrain_point_mae(encoder, corpus, epochs=2 if quick else 12, batch_size=32, lr=1e-3)
    state = {k: v.clone() for k, v in encoder.state_dict().items()}
    pretrain_seconds = time.perf_counter() - start

    shots = 10
    train = SyntheticShapes(8 * shots, num_points, seed=1)
    val = SyntheticShapes(80, num_points, seed=2)
    test = SyntheticShapes(160 if quick else 400, num_points, seed=3)
    methods = {
        "linear_probe": {},
        "vpt_deep": {"num_prompts": 4, "head_dropout": 0.0},
        "idpt": {"prompt_layer": config.depth - 1, "k": 8, "head_dropout": 0.0},
        "point_peft": {
            "prompt_layers": 2,
            "top_k": 8,
            "num_prompts": 10,
            "ga_groups": 8,
            "ga_group_size": 4,
            "ga_heads": 4,
            "head_dropout": 0.0,
        },
        "full_finetune": {},
    }
    rows = []
    for method, overrides in methods.items():
        start = time.perf_counter()
        backbone = PointTransformer(config)
        backbone.load_state_dict(state)
        model = mp.get_prompt_model(backbone, mp.get_config(method, num_classes=8, **overrides))
        if method == "point_peft":
            model.build_memory_bank(train)  # the P²-Bank: features of the training shapes
        args = mp.TrainingArguments(
            max_epochs=3 if quick else 30,
            batch_size=16,
            lr=1e-3 if method == "full_finetune" else 5e-3,
            weight_decay=0.05,
            scheduler="cosine",
            verbose=False,
            tensorboard=False,
        )
        trainer = mp.Trainer(model, args, train_data=train, eval_data=val)
        trainer.fit()
        accuracy = trainer.evaluate(test)["accuracy"]
        percent = 100 * model.num_parameters(True) / model.num_parameters()
        rows.append(
            DemoResult(
                "pointcloud",
                f"SyntheticShapes 8-way {shots}-shot",
                method,
                percent,
                "accuracy",
                accuracy,
                time.perf_counter() - start,
            )
        )
    print(
        f"[demo] Point-MAE pre-training of the point-cloud backbone took {pretrain_seconds:.1f} s"
    )
    return rows
