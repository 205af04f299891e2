"""VPT-style static prompts on the point transformer (the IDPT paper's baselines).

``vpt_shallow`` prepends learnable tokens once; ``vpt_deep`` (the official IDPT repository's
``PointTransformerPromptDeep``) drops the previous prompts at every block and appends fresh
per-layer prompts with their own positions.
"""

from modalprompt.pointcloud.vpt.config import VptDeepConfig, VptShallowConfig

__all__ = ["VptShallowConfig", "VptDeepConfig"]
