"""EPT: efficient prompt tuning by multi-space projection and prompt fusion (Lan et al., AAAI 2025,
arXiv:2405.11464), registered as ``ept``.

A DePT decomposition (short prompt + low-rank position-wise input offset), fused and projected
into gated subspaces. No official code exists; :mod:`.prompt` documents the parametrisation and
:mod:`.model` how it reaches the backbone (:class:`~.model.EptModel`, two learning rates via
``param_groups()``; :meth:`~.config.EptConfig.for_budget` sizes it for a vanilla-PT budget).
"""
