"""Graph prompt tuning on real molecules: RELIEF vs GPF vs GPF-plus vs fine-tuning vs head-only.

One molecule GIN is pre-trained (AttrMasking, on HIV molecules: a corpus the tasks never see);
every method starts from that checkpoint on each MoleculeNet task: deterministic scaffold split,
50-shot training (the first 50 training graphs after a seeded shuffle, RELIEF's protocol),
selection on the validation split, ROC-AUC on the test split, mean ± std over seeds; RELIEF also
reports its prompt coverage (PCR) and magnitude (APM). The speed comparison with the official
RELIEF loop is ``benchmarks/relief_speed.py``.

The GIN is smaller than the papers' 5 x 300 so that a CPU run ends in minutes.

usage: python benchmarks/graph.py [--quick] [--data DIR]     (or: modalprompt bench graph)
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch
from torch_geometric.data import Batch

import modalprompt as mp
from modalprompt.core.model import unfreeze
from modalprompt.graph.backbones import MoleculeGIN, load_pretrain_gnns_checkpoint
from modalprompt.graph.datasets.molecules import load_moleculenet_csv, scaffold_split
from modalprompt.graph.pretrain import pretrain
from modalprompt.graph.relief import fit_relief

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "graph" / "moleculenet"


def collate(items):
    return Batch.from_data_list(items)


def spread(values: list[float]) -> str:
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{100 * statistics.mean(values):.1f} ± {100 * std:.1f}"


def run_baseline(
    method: str,
    state: dict,
    layers: int,
    width: int,
    tasks: int,
    train,
    val,
    test,
    epochs: int,
    seed: int,
) -> float:
    """Head-only and full fine-tuning with the prompt methods' readout and masked BCE: a GPF
    model whose prompt is fixed at zero (head-only), with the GIN unfrozen for full fine-tuning."""
    gin = MoleculeGIN(num_layer=layers, emb_dim=width)
    gin.load_state_dict(state)
    model = mp.get_prompt_model(gin, mp.get_config("gpf", num_outputs=tasks, seed=seed))
    with torch.no_grad():
        model.global_prompt.zero_()
    model.global_prompt.requires_grad_(False)
    if method == "full_finetune":
        unfreeze(model.backbone)
        model.train_backbone = True  # its weights are now part of the trained state
    return fit_and_test(model, train, val, test, epochs, seed, lr=1e-3)


def fit_and_test(model, train, val, test, epochs: int, seed: int, lr: float) -> float:
    args = mp.TrainingArguments(
        max_epochs=epochs,
        batch_size=32,
        lr=lr,
        optimizer="adam",
        metric="roc_auc",
        seed=seed,
        verbose=False,
        tensorboard=False,
        max_grad_norm=None,
    )
    trainer = mp.Trainer(model, args, train_data=train, eval_data=val, collate_fn=collate)
    trainer.fit()
    return trainer.evaluate(test)["roc_auc"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    args = parser.parse_args()
    quick, data = args.quick, Path(args.data)
    if not data.is_dir():
        raise SystemExit(f"--data: {data} not found (MoleculeNet CSVs are needed)")
    layers, width = (3, 64) if quick else (5, 128)
    seeds = [0] if quick else [0, 1, 2]
    datasets = ["bbbp"] if quick else ["bbbp", "bace", "clintox"]
    epochs = 10 if quick else 50

    start = time.perf_counter()
    corpus = load_moleculenet_csv(data / "hiv.csv.gz", limit=1000 if quick else 8000)
    gin = MoleculeGIN(num_layer=layers, emb_dim=width)
    result = pretrain(gin, "attr_masking", corpus.graphs, epochs=2 if quick else 10, batch_size=256)
    state = {k: v.clone() for k, v in gin.state_dict().items()}
    print(
        f"AttrMasking pre-training on {len(corpus)} HIV molecules: loss {result.losses[0]:.3f} -> "
        f"{result.losses[-1]:.3f} in {time.perf_counter() - start:.0f} s; GIN {layers} x {width}"
    )

    for name in datasets:
        ds = load_moleculenet_csv(data / f"{name}.csv")
        train_idx, val_idx, test_idx = scaffold_split(ds.smiles)
        tasks = len(ds.tasks)
        rows: dict[str, list[float]] = {}
        relief_stats = []
        for seed in seeds:
            order = torch.randperm(len(train_idx), generator=torch.Generator().manual_seed(seed))
            shuffled = [train_idx[i] for i in order]
            train, val, test = ds.subset(shuffled[:50]), ds.subset(val_idx), ds.subset(test_idx)
            for method in ("head_only", "full_finetune"):
                rows.setdefault(method, []).append(
                    run_baseline(
                        method, state, layers, width, tasks, train, val, test, epochs, seed
                    )
                )
            for method in ("gpf", "gpf_plus"):
                backbone = MoleculeGIN(num_layer=layers, emb_dim=width)
                load_pretrain_gnns_checkpoint(backbone, state)
                model = mp.get_prompt_model(
                    backbone, mp.get_config(method, num_outputs=tasks, seed=seed)
                )
                rows.setdefault(method, []).append(
                    fit_and_test(model, train, val, test, epochs, seed, 1e-3)
                )
            backbone = MoleculeGIN(num_layer=layers, emb_dim=width)
            load_pretrain_gnns_checkpoint(backbone, state)
            config = mp.get_config(
                "relief",
                num_outputs=tasks,
                max_nodes=ds.max_nodes,
                seed=seed,
                total_epochs=max(2, epochs // 2),
                skip_epochs=min(5, epochs // 4),
                head_layers=2,
                head_epochs=2,
                alpha_discrete=1.0,
                minibatch_size=64,
                graphs_per_rollout=16,
            )
            model = mp.get_prompt_model(backbone, config)
            fit_relief(model, train, val)
            model.eval()
            metrics = model.compute_metrics(model.validation_step(collate(test)))
            rows.setdefault("relief", []).append(metrics["roc_auc"])
            relief_stats.append((metrics["pcr"], metrics["apm"]))
        print(
            f"\n{name.upper()} ({tasks} task(s); scaffold split; 50-shot; "
            f"{len(seeds)} seed(s)): test ROC-AUC"
        )
        for method, values in rows.items():
            print(f"  {method:<14}{spread(values):>14}")
        pcr = statistics.mean(p for p, _ in relief_stats)
        apm = statistics.mean(a for _, a in relief_stats)
        print(f"  RELIEF prompt coverage {100 * pcr:.1f}%, average magnitude {apm:.3f}")


if __name__ == "__main__":
    main()
