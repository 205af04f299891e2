"""modalprompt: prompt tuning of frozen pre-trained models on graphs, point clouds and text.

The public surface::

    import modalprompt as mp
    mp.list_methods("pointcloud")
    config = mp.get_config("idpt", num_classes=40)
    model = mp.get_prompt_model(backbone, config)
    model.print_trainable_parameters()
    mp.Trainer(model, mp.TrainingArguments(max_epochs=5), train_data=ds).fit()

Domain subpackages (``modalprompt.graph``, ``modalprompt.pointcloud``, ``modalprompt.nlp``)
import their heavy dependencies only when used.
"""

__version__ = "0.1.0.dev0"

from modalprompt.core import (  # noqa: E402
    ConfigError,
    PromptConfig,
    PromptModel,
    Trainer,
    TrainingArguments,
    get_config,
    get_method_spec,
    get_prompt_model,
    list_methods,
    register_method,
)
from modalprompt.core.testing import check_prompt_model  # noqa: E402

__all__ = [
    "__version__",
    "ConfigError",
    "PromptConfig",
    "PromptModel",
    "Trainer",
    "TrainingArguments",
    "get_config",
    "get_method_spec",
    "get_prompt_model",
    "list_methods",
    "register_method",
    "check_prompt_model",
]
