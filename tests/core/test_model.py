import os

import pytest
import torch

import modalprompt as mp
from modalprompt.core import checkpoint as ckpt_module
from modalprompt.core.model import freeze, is_frozen, unfreeze

from ._tiny import TinyBackbone, make_backbone


def _probe(seed=0, num_classes=3):
    return mp.get_prompt_model(
        make_backbone(seed), mp.get_config("linear_probe", num_classes=num_classes)
    )


def test_backbone_stays_frozen_in_train_mode_even_when_asked_directly():
    model = _probe()
    model.train()
    assert model.training and model.head.training
    assert not any(m.training for m in model.backbone.modules())
    model.backbone.train()  # a user (or library) switching it on directly
    model.backbone.norm.train(True)
    assert not any(m.training for m in model.backbone.modules())
    assert not any(p.requires_grad for p in model.backbone.parameters())
    assert is_frozen(model.backbone)


def test_training_never_moves_batchnorm_statistics():
    model = _probe()
    before = {k: v.clone() for k, v in model.backbone.state_dict().items()}
    opt = torch.optim.SGD(model.trainable_parameters(), lr=0.1)
    model.train()
    for _ in range(5):
        x, y = torch.randn(16, 4) * 5 + 3, torch.randint(0, 3, (16,))
        loss = model.training_step((x, y))["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = model.backbone.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_unfreeze_restores_normal_train_behaviour():
    backbone = freeze(TinyBackbone())
    unfreeze(backbone)
    backbone.train()
    assert backbone.norm.training and all(p.requires_grad for p in backbone.parameters())


def test_full_finetune_trains_the_backbone():
    model = mp.get_prompt_model(
        freeze(make_backbone()), mp.get_config("full_finetune", num_classes=3)
    )
    model.train()
    assert model.backbone.norm.training
    assert all(p.requires_grad for p in model.backbone.parameters())


def test_parameter_counts_and_peft_format(capsys):
    model = _probe()
    head = 8 * 3 + 3
    backbone = 4 * 8 + 8 + 8 + 8
    assert model.num_parameters(trainable_only=True) == head
    assert model.num_parameters() == head + backbone
    model.print_trainable_parameters()
    total = head + backbone
    expected = (
        f"trainable params: {head:,d} || all params: {total:,d} "
        f"|| trainable%: {100 * head / total:.4f}"
    )
    assert capsys.readouterr().out.strip() == expected


def test_save_load_round_trip_gives_identical_outputs(tmp_path):
    model = _probe()
    with torch.no_grad():
        model.head[1].weight.normal_()
    model.save_pretrained(tmp_path / "run")
    assert sorted(os.listdir(tmp_path / "run")) == [
        "backbone_fingerprint.json",
        "config.json",
        "manifest.json",
        "prompt.safetensors",
    ]
    loaded = mp.PromptModel.from_pretrained(make_backbone(), tmp_path / "run")
    assert not loaded.training
    x = torch.randn(5, 4)
    model.eval()
    assert torch.equal(model(x), loaded(x))
    assert loaded.config == model.config


def test_shape_mismatch_of_backbone_is_explained(tmp_path):
    _probe().save_pretrained(tmp_path / "run")
    with pytest.raises(ValueError) as info:
        mp.PromptModel.from_pretrained(make_backbone(in_dim=5), tmp_path / "run")
    message = str(info.value)
    assert "linear.weight" in message and "[8, 4] saved" in message and "[8, 5] now" in message


def test_renamed_or_missing_backbone_tensors_are_explained(tmp_path):
    _probe().save_pretrained(tmp_path / "run")
    backbone = make_backbone()
    del backbone.norm  # the fingerprint lists norm.* tensors that are gone now
    backbone.norm = torch.nn.Identity()
    with pytest.raises(ValueError, match=r"backbone lacks 5 tensor\(s\)"):
        mp.PromptModel.from_pretrained(backbone, tmp_path / "run")


def test_different_weights_need_explicit_consent(tmp_path):
    _probe().save_pretrained(tmp_path / "run")
    with pytest.raises(ValueError, match="different weights"):
        mp.PromptModel.from_pretrained(make_backbone(seed=1), tmp_path / "run")
    loaded = mp.PromptModel.from_pretrained(
        make_backbone(seed=1), tmp_path / "run", check_weights=False
    )
    assert loaded.config.num_classes == 3


def test_prompt_state_shape_mismatch_is_explained(tmp_path):
    _probe(num_classes=3).save_pretrained(tmp_path / "run")
    model = _probe(num_classes=4)
    state = mp.PromptModel.from_pretrained(make_backbone(), tmp_path / "run").prompt_state_dict()
    with pytest.raises(ValueError, match=r"head.1.weight: checkpoint \(3, 8\) vs model \(4, 8\)"):
        model.load_prompt_state_dict(state)
    with pytest.raises(ValueError, match="missing keys"):
        model.load_prompt_state_dict({})


def test_missing_checkpoint_file_is_reported(tmp_path):
    _probe().save_pretrained(tmp_path / "run")
    (tmp_path / "run" / "prompt.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match="prompt.safetensors"):
        mp.PromptModel.from_pretrained(make_backbone(), tmp_path / "run")


def test_interrupted_save_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    first = _probe()
    first.save_pretrained(tmp_path / "run")
    original = (tmp_path / "run" / "prompt.safetensors").read_bytes()

    def crash(*args, **kwargs):
        raise KeyboardInterrupt("killed mid-save")

    monkeypatch.setattr(ckpt_module, "atomic_save_tensors", crash)
    second = _probe(seed=0)
    with torch.no_grad():
        second.head[1].weight.add_(1)
    with pytest.raises(KeyboardInterrupt):
        second.save_pretrained(tmp_path / "run")
    assert (tmp_path / "run" / "prompt.safetensors").read_bytes() == original
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]  # no temp folders left


def test_from_pretrained_of_a_subclass_checks_the_class(tmp_path):
    from modalprompt.core.baselines import FullFinetuneModel

    _probe().save_pretrained(tmp_path / "run")
    with pytest.raises(TypeError, match="LinearProbeModel"):
        FullFinetuneModel.from_pretrained(make_backbone(), tmp_path / "run")


def test_a_model_expects_the_config_its_registration_names():
    from modalprompt.core.baselines import LinearProbeModel
    from modalprompt.core.model import PromptModel
    from modalprompt.core.registry import config_class_for_model

    wrong = mp.get_config("full_finetune", num_classes=3)
    with pytest.raises(TypeError, match="LinearProbeModel expects a LinearProbeConfig, got a Full"):
        LinearProbeModel(make_backbone(), wrong)

    class MyProbe(LinearProbeModel):  # a user's subclass expects its base method's config
        pass

    with pytest.raises(TypeError, match="MyProbe expects a LinearProbeConfig"):
        MyProbe(make_backbone(), wrong)
    assert config_class_for_model(MyProbe) is type(mp.get_config("linear_probe"))
    assert config_class_for_model(PromptModel) is None  # no registration names it


def test_contract_checker_passes_on_baselines_and_catches_a_leaky_method(monkeypatch):
    from modalprompt.core.baselines import LinearProbeModel

    x, y = torch.randn(8, 4), torch.randint(0, 3, (8,))
    mp.check_prompt_model(_probe(), (x, y))

    class Leaky(LinearProbeModel):
        """Flips BatchNorm back to training in its step (the official GPF code lets this happen)."""

        def training_step(self, batch):
            self.backbone.norm.training = True
            return super().training_step(batch)

    leaky = Leaky(make_backbone(), mp.get_config("linear_probe", num_classes=3))
    with pytest.raises(AssertionError, match="frozen backbone tensors changed"):
        mp.check_prompt_model(leaky, (x, y))


def test_a_frozen_model_still_pickles_and_deep_copies():
    import copy
    import io

    backbone = freeze(make_backbone())
    buffer = io.BytesIO()
    torch.save(backbone, buffer)  # users do save whole modules; it must keep working
    buffer.seek(0)
    for restored in (torch.load(buffer, weights_only=False), copy.deepcopy(backbone)):
        restored.train()
        assert not restored.norm.training and is_frozen(restored)
        assert all(m.train.module is m for m in restored.modules())  # guards its own copy


def test_saved_files_get_ordinary_permissions(tmp_path):
    import os
    import stat

    _probe().save_pretrained(tmp_path / "run")
    umask = os.umask(0)
    os.umask(umask)
    folder_mode = stat.S_IMODE((tmp_path / "run").stat().st_mode)
    assert folder_mode == 0o777 & ~umask, oct(folder_mode)
    for name in ("config.json", "prompt.safetensors", "backbone_fingerprint.json"):
        mode = stat.S_IMODE((tmp_path / "run" / name).stat().st_mode)
        assert mode == 0o666 & ~umask, (name, oct(mode))


def test_probe_and_finetune_pass_keyword_inputs_to_the_backbone():
    """``features(x=...)`` reaches the backbone as a keyword (datasets yielding dicts do this)."""
    x = torch.randn(5, 4)
    for method in ("linear_probe", "full_finetune"):
        model = mp.get_prompt_model(make_backbone(), mp.get_config(method, num_classes=3))
        model.eval()
        assert torch.equal(model.features(x=x), model.features(x))
        assert torch.equal(model(x=x), model(x))


def test_the_default_parameter_group_is_named_and_holds_every_trainable_parameter():
    model = mp.get_prompt_model(make_backbone(), mp.get_config("linear_probe", num_classes=3))
    (group,) = model.param_groups()
    assert group["name"] == "default"
    assert [id(p) for p in group["params"]] == [id(p) for p in model.trainable_parameters()]
