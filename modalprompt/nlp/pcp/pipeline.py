"""PCP's three stages, each callable alone, and :func:`run_pcp` / :func:`run_tapt` chaining them.

Stage 1 (:func:`prompt_finetune` + :func:`pseudo_label`): prompt-based fine-tuning of a copy of
the pre-trained masked LM on the k-shot split, then predicted labels for the unlabelled pool.
Stage 2 (:func:`pretrain_stage`): the pool wrapped in the template with the predicted label words
(:func:`~modalprompt.nlp.pcp.corpus.build_pcp_corpus`), masked-LM continued pre-training of a
fresh copy of the *original* model, saved with ``save_pretrained`` (safetensors).
Stage 3 (:func:`prompt_finetune` again): prompt-based fine-tuning from that checkpoint.
The fine-tuning stages use the core :class:`~modalprompt.core.trainer.Trainer`.
"""

from __future__ import annotations

import copy
import shutil
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from modalprompt.core.metrics import classification_metrics
from modalprompt.core.model import PromptModel
from modalprompt.core.phases import Phase, PhaseRunner, ValueState
from modalprompt.core.trainer import Trainer
from modalprompt.core.training_args import TrainingArguments
from modalprompt.nlp.classification import is_decoder
from modalprompt.nlp.pcp.config import PCPConfig
from modalprompt.nlp.pcp.corpus import build_pcp_corpus, build_tapt_corpus, check_pool
from modalprompt.nlp.pcp.model import PCPModel
from modalprompt.nlp.pcp.pretrain import MLMResult, continued_pretraining
from modalprompt.nlp.templates import Template

__all__ = [
    "PCPResult",
    "load_backbone",
    "prompt_finetune",
    "pseudo_label",
    "pretrain_stage",
    "run_pcp",
    "run_tapt",
]

Examples = Sequence[Mapping[str, Any]]


@dataclass
class PCPResult:
    """Everything :func:`run_pcp` / :func:`run_tapt` produced.

    Attributes:
        model: the stage-3 :class:`PCPModel` (fine-tuned from the continued-pre-trained LM).
        checkpoint_dir: the stage-2 checkpoint (``model.safetensors``, ``config.json``,
            tokenizer files).
        corpus: the stage-2 text lines.
        mlm: the stage-2 :class:`MLMResult` (per-step losses).
        pseudo_labels: (N,) stage-1 predictions for the pool (PCP only; None for TAPT).
        pseudo_probs: (N, C) their class probabilities (PCP only).
        stage_seconds: wall time per stage: ``pseudo_labeler`` (stage-1 fine-tuning),
            ``pseudo_label`` (prediction), ``continued_pretraining``, ``prompt_finetune``
            (stage 3).
        metrics: dev metrics of the stage-3 model (empty without ``dev``).
    """

    model: PCPModel
    checkpoint_dir: Path
    corpus: list[str]
    mlm: MLMResult
    pseudo_labels: Tensor | None = None
    pseudo_probs: Tensor | None = None
    stage_seconds: dict[str, float] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)


def load_backbone(source: nn.Module | str | Path) -> nn.Module:
    """A fresh, independent language model: a deep copy of a module, or loaded from a local
    folder / hub name (``AutoModelForCausalLM`` when its config names a causal-LM architecture,
    else ``AutoModelForMaskedLM``)."""
    if isinstance(source, nn.Module):
        return copy.deepcopy(source)
    if isinstance(source, str | Path):
        from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForMaskedLM

        architectures = AutoConfig.from_pretrained(str(source)).architectures or []
        causal = any(name.endswith("ForCausalLM") for name in architectures)
        loader = AutoModelForCausalLM if causal else AutoModelForMaskedLM
        return loader.from_pretrained(str(source))
    raise TypeError(
        f"backbone: expected a language model module or a folder / name, got "
        f"{type(source).__name__}"
    )


def _check_labelled(examples: Examples, name: str, num_classes: int) -> None:
    check_pool(examples, name)
    bad = [
        i
        for i, e in enumerate(examples)
        if not isinstance(e.get("label"), int) or not 0 <= e["label"] < num_classes
    ]
    if bad:
        raise ValueError(
            f"{name}: examples {bad[:5]} have no integer 'label' in [0, {num_classes}) "
            "(map raw labels to class indices first, as load_lmbff does)"
        )


def _ft_args(config: PCPConfig, has_dev: bool, device: str, verbose: bool) -> TrainingArguments:
    return TrainingArguments(
        max_steps=config.ft_steps,
        batch_size=config.ft_batch_size,
        lr=config.ft_lr,
        weight_decay=config.ft_weight_decay,
        warmup_ratio=config.ft_warmup_ratio,
        scheduler="linear",
        eval_strategy="steps" if has_dev else "no",
        eval_every=config.ft_eval_every,
        restore_best=True,
        seed=config.seed,
        device=device,
        verbose=verbose,
        tensorboard=False,
    )


def prompt_finetune(
    backbone: nn.Module,
    tokenizer: Any,
    config: PCPConfig,
    train: Examples,
    dev: Examples | None = None,
    *,
    device: str = "auto",
    verbose: bool = False,
) -> PCPModel:
    """Stage 1 / stage 3: prompt-based fine-tuning of ``backbone`` (trained in place).

    Args:
        backbone: a masked LM (pass a copy to keep the original: :func:`load_backbone`).
        tokenizer: its tokenizer.
        config: the :class:`PCPConfig` (``ft_*`` fields give the schedule).
        train: k-shot examples, dicts with ``text_a`` [, ``text_b``] and an int ``label``.
        dev: optional dev examples; the best dev accuracy state (every ``ft_eval_every``
            steps) is kept, as the official script does.
        device: ``"auto"``, ``"cpu"``, ``"cuda"``...
        verbose: print evaluation results.

    Returns:
        The trained :class:`PCPModel`, in eval mode.
    """
    if not isinstance(config, PCPConfig):
        raise TypeError(f"config: expected a PCPConfig, got {type(config).__name__}")
    _check_labelled(train, "train", config.num_classes)
    if dev is not None:
        _check_labelled(dev, "dev", config.num_classes)
    model = PCPModel(backbone, config, tokenizer=tokenizer)
    trainer = Trainer(
        model,
        _ft_args(config, dev is not None, device, verbose),
        train_data=list(train),
        eval_data=list(dev) if dev is not None else None,
        collate_fn=model.collator(),
    )
    trainer.fit()
    return model.eval()


@torch.no_grad()
def pseudo_label(
    model: PCPModel, unlabeled: Examples, batch_size: int = 32, min_confidence: float = 0.0
) -> tuple[Tensor, Tensor, Tensor]:
    """Stage 1, second half: predicted classes for the unlabelled pool.

    Args:
        model: the stage-1 model.
        unlabeled: N dicts with ``text_a`` [, ``text_b``] (any ``label`` is ignored).
        batch_size: examples per forward pass.
        min_confidence: keep only examples whose top probability is at least this.

    Returns:
        ``labels`` (N,) long, ``probs`` (N, C) float and ``keep`` (N,) bool (all True when
        ``min_confidence`` is 0).
    """
    check_pool(unlabeled)
    if not 0.0 <= min_confidence <= 1.0:
        raise ValueError(f"min_confidence: expected a value in [0, 1], got {min_confidence}")
    probs = model.predict_proba(unlabeled, batch_size=batch_size)
    top, labels = probs.max(-1)
    return labels, probs, top >= min_confidence


def pretrain_stage(
    backbone: nn.Module,
    tokenizer: Any,
    config: PCPConfig,
    corpus: Sequence[str],
    output_dir: str | Path,
    *,
    device: str = "auto",
    run_dir: str | Path | None = None,
    resume_from: str | Path | None = None,
) -> MLMResult:
    """Stage 2: continued pre-training of ``backbone`` (in place) on ``corpus`` with the
    config's ``mlm_*`` schedule, saved to ``output_dir`` with ``save_pretrained``; with
    ``run_dir`` the core Trainer checkpoints it every ``config.mlm_save_every`` steps there
    (every epoch when unset) and ``resume_from="latest"`` continues a killed stage."""
    if not isinstance(config, PCPConfig):
        raise TypeError(f"config: expected a PCPConfig, got {type(config).__name__}")
    return continued_pretraining(
        backbone,
        tokenizer,
        corpus,
        output_dir,
        mlm_probability=config.mlm_probability,
        lr=config.mlm_lr,
        betas=config.mlm_betas,
        eps=config.mlm_eps,
        weight_decay=config.mlm_weight_decay,
        batch_size=config.mlm_batch_size,
        grad_accumulation_steps=config.mlm_grad_accumulation,
        epochs=config.mlm_epochs,
        max_steps=config.mlm_max_steps,
        warmup_ratio=config.mlm_warmup_ratio,
        max_length=config.mlm_max_length or config.max_length,
        seed=config.seed,
        device=device,
        run_dir=run_dir,
        save_every=config.mlm_save_every,
        resume_from=resume_from,
    )


class _Stages:
    """PCP / TAPT as core phases (:class:`~modalprompt.core.phases.PhaseRunner`) in
    ``output_dir``: ``pseudo_label`` (PCP only: stage-1 prompt FT, then predictions for the
    pool), ``continued_pretraining`` (stage 2 on the core Trainer, checkpointed inside the stage
    in ``output_dir/<name>_run``), ``prompt_finetune`` (stage 3, saved to
    ``output_dir/<name>_model``); ``metrics.jsonl`` and ``phase_checkpoints/`` go to
    ``output_dir/<name>_phases``, so PCP and TAPT can share one ``output_dir``. A killed run
    resumes with ``resume_from="latest"``: finished
    stages are not repeated (their results are in the phase checkpoint), stage 2 continues from
    its last checkpoint, the few-shot fine-tuning stages (minutes) run again from their start.
    """

    def __init__(  # noqa: PLR0913
        self,
        name,
        backbone,
        tokenizer,
        config,
        train,
        dev,
        output_dir,
        device,
        verbose,
        overwrite_output_dir=False,
    ):
        self.name, self.backbone, self.tokenizer, self.config = name, backbone, tokenizer, config
        self.train, self.dev, self.device, self.verbose = train, dev, device, verbose
        self.out = Path(output_dir)
        self.checkpoint_dir = self.out / f"{name}_checkpoint"
        self.run_dir = self.out / f"{name}_run"
        self.model_dir = self.out / f"{name}_model"
        self.phase_dir = self.out / f"{name}_phases"  # metrics.jsonl, phase_checkpoints/
        self.book = ValueState({"seconds": {}, "mlm_losses": [], "mlm_steps": 0, "metrics": {}})
        self.resuming = False
        self.overwrite_output_dir = overwrite_output_dir
        self.model: PCPModel | None = None

    def timed(self, stage: str, fn: Any) -> Any:
        start = time.perf_counter()
        value = fn()
        self.book.value["seconds"][stage] = time.perf_counter() - start
        return value

    def continued_pretraining(self, corpus: list[str]) -> dict[str, float]:
        resume = None
        if self.resuming and self.run_dir.is_dir():
            resume = "latest"
        elif self.run_dir.is_dir():
            shutil.rmtree(self.run_dir)  # a new run: an earlier run's stage-2 files go
        mlm = self.timed(
            "continued_pretraining",
            lambda: pretrain_stage(
                load_backbone(self.backbone),
                self.tokenizer,
                self.config,
                corpus,
                self.checkpoint_dir,
                device=self.device,
                run_dir=self.run_dir,
                resume_from=resume,
            ),
        )
        self.book.value.update(mlm_losses=list(mlm.losses), mlm_steps=mlm.steps)
        return {"mlm_loss": mlm.losses[-1] if mlm.losses else float("nan"), "steps": mlm.steps}

    def prompt_finetune(self) -> dict[str, float]:
        model = self.timed(
            "prompt_finetune",
            lambda: prompt_finetune(
                load_backbone(self.checkpoint_dir),
                self.tokenizer,
                self.config,
                self.train,
                self.dev,
                device=self.device,
                verbose=self.verbose,
            ),
        )
        model.save_pretrained(self.model_dir)
        self.model = model
        metrics: dict[str, float] = {}
        if self.dev is not None:
            probs = model.predict_proba(self.dev, batch_size=self.config.ft_batch_size)
            gold = torch.tensor([e["label"] for e in self.dev])
            metrics = classification_metrics(probs.log(), gold)
        self.book.value["metrics"] = metrics
        return metrics

    def run(self, first: list[Phase], corpus: Any, resume_from: str | Path | None) -> PCPResult:
        plan = [
            *first,
            Phase("continued_pretraining", lambda _: self.continued_pretraining(corpus()), _once),
            Phase("prompt_finetune", lambda _: self.prompt_finetune(), _once),
        ]
        runner = PhaseRunner(
            plan,
            state={"stages": self.book},
            output_dir=self.phase_dir,
            seed=self.config.seed,
            overwrite_output_dir=self.overwrite_output_dir,
        )
        self.resuming = resume_from is not None
        runner.run(resume_from=resume_from)
        if self.model is None:  # a finished run resumed: the stage-3 model is on disk
            self.model = PromptModel.from_pretrained(
                load_backbone(self.checkpoint_dir), self.model_dir, tokenizer=self.tokenizer
            ).eval()
        book = self.book.value
        return PCPResult(
            self.model,
            self.checkpoint_dir,
            corpus(),
            MLMResult(
                losses=book["mlm_losses"], steps=book["mlm_steps"], output_dir=self.checkpoint_dir
            ),
            stage_seconds=dict(book["seconds"]),
            metrics=dict(book["metrics"]),
        )


def _once(_: int) -> list[int]:
    return [0]


def run_pcp(
    backbone: nn.Module | str | Path,
    tokenizer: Any,
    config: PCPConfig,
    train: Examples,
    unlabeled: Examples,
    output_dir: str | Path,
    *,
    dev: Examples | None = None,
    device: str = "auto",
    verbose: bool = False,
    resume_from: str | Path | None = None,
    overwrite_output_dir: bool = False,
) -> PCPResult:
    """The whole PCP pipeline: pseudo-labeler → PCP corpus → continued pre-training → prompt FT.

    Runs as core phases (``pseudo_label``, ``continued_pretraining``, ``prompt_finetune``;
    ``metrics.jsonl`` and ``phase_checkpoints/`` in ``<output_dir>/pcp_phases``), so a killed run
    continues with ``resume_from="latest"`` (see :class:`_Stages`).

    Args:
        backbone: the pre-trained masked LM (a module, never modified, or a folder / hub name).
        tokenizer: its tokenizer.
        config: :class:`PCPConfig` (template, label words, schedules).
        train: k-shot labelled examples (int ``label``); ``dev`` likewise, optional.
        unlabeled: the unlabelled pool (dicts with ``text_a`` [, ``text_b``]).
        output_dir: the stage-2 checkpoint goes to ``<output_dir>/pcp_checkpoint``, its
            training run to ``pcp_run``, the stage-3 model to ``pcp_model``.
        device: ``"auto"``, ``"cpu"``, ``"cuda"``...
        verbose: print evaluation results of the fine-tuning stages.
        resume_from: ``"latest"`` (or a folder in ``<output_dir>/pcp_phases/phase_checkpoints``).
        overwrite_output_dir: start over in an ``output_dir`` holding an earlier run's
            checkpoints (deleting them) instead of refusing.

    Returns:
        :class:`PCPResult` with the stage-3 model and the wall time of every stage.
    """
    check_pool(unlabeled)
    decoder = isinstance(backbone, nn.Module) and is_decoder(backbone)
    template = Template(config.template, tokenizer, decoder=decoder)  # fails early if bad
    stages = _Stages(
        "pcp",
        backbone,
        tokenizer,
        config,
        train,
        dev,
        output_dir,
        device,
        verbose,
        overwrite_output_dir,
    )

    def label_pool(_: int) -> dict[str, float]:
        labeler = stages.timed(
            "pseudo_labeler",
            lambda: prompt_finetune(
                load_backbone(backbone),
                tokenizer,
                config,
                train,
                dev,
                device=device,
                verbose=verbose,
            ),
        )
        labels, probs, keep = stages.timed(
            "pseudo_label",
            lambda: pseudo_label(labeler, unlabeled, min_confidence=config.pseudo_label_confidence),
        )
        if not bool(keep.any()):
            raise ValueError(
                f"pseudo_label_confidence={config.pseudo_label_confidence} removed every "
                "unlabelled example; lower it"
            )
        stages.book.value.update(labels=labels, probs=probs, keep=keep)
        return {"kept": int(keep.sum())}

    def corpus() -> list[str]:
        state = stages.book.value
        keep = state["keep"]
        kept = [e for e, k in zip(unlabeled, keep.tolist()) if k]
        return build_pcp_corpus(kept, state["labels"][keep], template, config.label_words)

    result = stages.run([Phase("pseudo_label", label_pool, _once)], corpus, resume_from)
    book = stages.book.value
    result.pseudo_labels, result.pseudo_probs = book["labels"], book["probs"]
    return result


def run_tapt(
    backbone: nn.Module | str | Path,
    tokenizer: Any,
    config: PCPConfig,
    train: Examples,
    unlabeled: Examples,
    output_dir: str | Path,
    *,
    dev: Examples | None = None,
    device: str = "auto",
    verbose: bool = False,
    resume_from: str | Path | None = None,
    overwrite_output_dir: bool = False,
) -> PCPResult:
    """The TAPT baseline: continued pre-training on the plain pool texts (no template, no
    pseudo-labels) with the same stage-2 schedule, then prompt-based fine-tuning.
    Arguments as :func:`run_pcp`; the checkpoint goes to ``<output_dir>/tapt_checkpoint``."""
    texts = build_tapt_corpus(unlabeled)
    stages = _Stages(
        "tapt",
        backbone,
        tokenizer,
        config,
        train,
        dev,
        output_dir,
        device,
        verbose,
        overwrite_output_dir,
    )
    return stages.run([], lambda: texts, resume_from)
