"""modalprompt.pointcloud: prompt tuning of frozen point transformers.

Ops without a CUDA build (:mod:`.ops`), the Point-MAE / Point-BERT backbone with official
checkpoint names (:mod:`.backbones`), Point-MAE pre-training (:mod:`.pretrain`), datasets
(:mod:`.datasets`), and the methods ``idpt``, ``vpt_shallow``, ``vpt_deep`` (``point_peft`` is in
progress). Importing this package imports nothing heavy.
"""
