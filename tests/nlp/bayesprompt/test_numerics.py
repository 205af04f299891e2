import numpy as np
import pytest
import torch

from modalprompt.nlp.bayesprompt.features import abstraction_vector, mean_input_embeddings
from modalprompt.nlp.bayesprompt.gmm import TorchGMM, fit_gmm
from modalprompt.nlp.bayesprompt.svgd import rbf_kernel, run_svgd, svgd_direction


def _blobs(n=200, d=5, seed=0):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(n // 2, d)) + 3.0
    b = rng.normal(size=(n // 2, d)) * 0.5 - 2.0
    return np.concatenate([a, b])


def test_log_density_matches_scikit_learn_and_score_matches_autograd():
    from sklearn.mixture import GaussianMixture

    data = _blobs()
    gmm = fit_gmm(data, 2, reg_covar=0.1, seed=0)
    reference = GaussianMixture(2, covariance_type="full", reg_covar=0.1, random_state=0).fit(data)
    x = torch.as_tensor(data[:17], dtype=torch.float64)
    np.testing.assert_allclose(
        gmm.log_prob(x).numpy(), reference.score_samples(data[:17]), rtol=1e-9
    )
    np.testing.assert_allclose(
        gmm.responsibilities(x).numpy(), reference.predict_proba(data[:17]), atol=1e-9
    )
    x.requires_grad_(True)
    (grad,) = torch.autograd.grad(gmm.log_prob(x).sum(), x)
    torch.testing.assert_close(gmm.score(x.detach()), grad)


def test_score_stays_finite_where_linear_space_underflows():
    d = 512
    gmm = TorchGMM(
        torch.tensor([0.5, 0.5], dtype=torch.float64),
        torch.stack([torch.zeros(d), torch.ones(d)]).double(),
        torch.eye(d, dtype=torch.float64).expand(2, d, d).clone() * 0.1,
    )
    x = torch.full((3, d), 5.0, dtype=torch.float64)
    assert torch.exp(gmm.log_prob(x)).eq(0).all()  # what the official code divides by (+1e-10)
    score = gmm.score(x)
    assert torch.isfinite(score).all()
    torch.testing.assert_close(score, -(x - 1.0) / 0.1)  # the nearer component owns every point


def test_kernel_repulsion_is_the_gradient_of_the_kernel_sum():
    particles = torch.randn(6, 3, dtype=torch.float64)
    kernel, repulsion = rbf_kernel(particles)
    h2 = 0.5 * torch.cdist(particles, particles).pow(2).flatten().median() / np.log(7)
    for i in range(6):
        theta = particles.clone().requires_grad_(True)
        k_i = torch.exp(-((theta - particles[i].detach()) ** 2).sum(1) / (2 * h2))
        (grad,) = torch.autograd.grad(k_i.sum(), theta)
        torch.testing.assert_close(kernel[i], k_i.detach())
        # sum_j grad_{theta_j} k(theta_j, theta_i)
        torch.testing.assert_close(repulsion[i], grad.sum(0))


def test_svgd_moves_particles_onto_the_target_distribution():
    torch.manual_seed(0)
    target = TorchGMM(
        torch.tensor([1.0], dtype=torch.float64),
        torch.tensor([[2.0, -1.0]]).double(),
        torch.tensor([[[0.25, 0.0], [0.0, 1.0]]]).double(),
    )
    start = torch.randn(100, 2, dtype=torch.float64) * 0.1 + torch.tensor([-4.0, 4.0]).double()
    moved = run_svgd(start, target.score, iterations=800, step_size=0.05)
    torch.testing.assert_close(moved.mean(0), torch.tensor([2.0, -1.0]).double(), atol=0.1, rtol=0)
    var = moved.var(0)
    assert 0.12 < var[0] < 0.4 and 0.5 < var[1] < 1.5  # spread by the repulsion, not collapsed


def test_svgd_without_a_score_only_spreads():
    particles = torch.randn(20, 2, dtype=torch.float64) * 0.01
    phi = svgd_direction(particles, torch.zeros_like(particles))
    # repulsion points away from the centre of mass
    assert ((particles - particles.mean(0)) * phi).sum(1).gt(0).float().mean() > 0.8


def test_features_ignore_padding_and_abstraction_sampling():
    emb = torch.nn.Embedding(10, 4)
    ids = torch.tensor([[1, 2, 0, 0], [1, 2, 3, 4]])
    mask = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1]])
    feats = mean_input_embeddings(emb, ids, mask)
    torch.testing.assert_close(feats[0], emb.weight[[1, 2]].mean(0).detach())
    with pytest.raises(ValueError, match="attention_mask"):
        mean_input_embeddings(emb, ids, mask[:, :3])
    particles = torch.arange(12.0).view(6, 2)
    g = torch.Generator().manual_seed(0)
    vec = abstraction_vector(particles, 3, g)
    assert any(
        torch.allclose(vec, particles[list(c)].mean(0))
        for c in __import__("itertools").combinations(range(6), 3)
    )
    torch.testing.assert_close(
        abstraction_vector(particles, 3, deterministic=True), particles.mean(0)
    )
