"""The energy lab end to end: files, metrics, the collapse it is meant to show, the CLI, its
sampler registry and its run folder."""

from __future__ import annotations

import argparse
import json
import math

import pytest
import torch

from eblearn.app.lab import (
    LabConfig,
    _build_energy,
    _build_loss,
    _train,
    fit_lab_model,
    lab_folder,
    run_lab,
)
from eblearn.app.lab_models import FITTED_MODELS, GAN_SAMPLES
from eblearn.app.lab_samplers import LAB_SAMPLERS, NoNegatives, SamplerSettings
from eblearn.app.run_folder import Mode
from eblearn.cli import build_parser, main
from eblearn.data.toy2d import load_toy
from eblearn.energy import FreeEnergy, MLPEnergy

TINY = {"n": 128, "batch_size": 64, "resolution": 16, "progress": False, "sampler_steps": 3}
TINY_ARGS = ["--n", "32", "--batch-size", "16", "--resolution", "8", "--sampler-steps", "2"]
TINY_ARGS += ["--steps", "1", "--no-progress"]


@pytest.mark.parametrize(
    ("data", "model", "loss", "sampler"),
    [
        ("ellipse", "latent", "energy", "none"),
        ("horn", "mlp", "square-square", "hard"),
        ("two-moons", "mlp", "nll", "pcd"),
        ("eight-gaussians", "mlp", "dsm", "none"),
        ("spirals", "mlp", "mee", "generator"),
        ("horn", "latent", "hinge", "cd"),
    ],
)
def test_every_figure_is_written(tmp_path, data: str, model: str, loss: str, sampler: str) -> None:
    config = LabConfig(
        data=data, model=model, loss=loss, sampler=sampler, steps=3, latent_points=8, **TINY
    )
    config.run_dir = str(tmp_path / "run")
    result = run_lab(config)
    names = sorted(p.name for p in result.figures)
    second = "free_energy.png" if model == "latent" else "density.png"
    assert names == sorted(["energy.png", second, "chains.png", "curve.png"])
    assert all(p.exists() for p in result.figures)
    saved = json.loads((tmp_path / "run" / "results.json").read_text())
    assert saved["config"]["loss"] == loss
    assert set(saved["metrics"]) >= {"loss", "data_energy", "grid_energy"}
    # every file is eblearn's, so --overwrite may delete exactly these
    assert sorted(lab_folder(tmp_path / "run").written()) == sorted([*names, "results.json"])


def test_a_zero_margin_loss_collapses_where_a_margin_loss_does_not(tmp_path) -> None:
    # Same MLP, same uniform contrastive points: the perceptron loss is satisfied as soon as
    # the data is the lowest (a flat energy), the hinge opens a gap of about the margin.
    gaps = {}
    for loss in ("perceptron", "hinge"):
        config = LabConfig(loss=loss, sampler="uniform", steps=60, run_dir=str(tmp_path / loss))
        config.__dict__.update(TINY)
        metrics = run_lab(config).metrics
        gaps[loss] = metrics["grid_energy"] - metrics["data_energy"]
    assert abs(gaps["perceptron"]) < 0.1
    assert gaps["hinge"] > 0.5


def test_bad_options_are_named(tmp_path, capsys) -> None:
    run = str(tmp_path / "run")
    with pytest.raises(ValueError, match="unknown loss 'cosine'; valid choices: energy"):
        run_lab(LabConfig(loss="cosine", run_dir=run))
    with pytest.raises(ValueError, match="unknown sampler 'gibbs'; valid samplers: cd, "):
        run_lab(LabConfig(sampler="gibbs", run_dir=run))
    with pytest.raises(ValueError, match=r"the hinge loss pushes up contrastive points: .*\(cd, "):
        run_lab(LabConfig(loss="hinge", sampler="none", run_dir=run))
    with pytest.raises(ValueError, match="score matching needs a smooth energy"):
        run_lab(LabConfig(loss="dsm", sampler="none", model="latent", run_dir=run))
    with pytest.raises(ValueError, match="steps must be an integer >= 1, got 0"):
        run_lab(LabConfig(steps=0, run_dir=run))
    with pytest.raises(
        ValueError, match=r"hidden must be one or more layer sizes >= 1 .*\(64, 0\)"
    ):
        run_lab(LabConfig(hidden=(64, 0), run_dir=run))
    with pytest.raises(ValueError, match=r"betas must be one or more values > 0 .*\(inf, -1\.0\)"):
        run_lab(LabConfig(betas=(math.inf, -1.0), run_dir=run))
    with pytest.raises(ValueError, match=r"radius must be >= 0, got -0\.1"):
        run_lab(LabConfig(radius=-0.1, run_dir=run))
    assert not (tmp_path / "run").exists()
    assert main(["lab", "--data", "circles", "--run-dir", run]) == 2
    assert "unknown toy data set 'circles'" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--steps", "0", "argument --steps: must be >= 1, got 0"),
        ("--resolution", "0", "argument --resolution: must be >= 1, got 0"),
        ("--n", "0", "argument --n: must be >= 1, got 0"),
        ("--batch-size", "-4", "argument --batch-size: must be >= 1, got -4"),
        ("--margin", "-1", "argument --margin: must be > 0, got -1"),
        ("--radius", "-0.5", "argument --radius: must be >= 0, got -0.5"),
        ("--hidden", "64,0", "argument --hidden: must be >= 1, got 0"),
        ("--hidden", "64 64", "argument --hidden: expected a positive integer, got '64 64'"),
        ("--betas", "inf,0", "argument --betas: must be > 0 (inf allowed), got 0"),
        ("--latent-beta", "nan", "argument --latent-beta: must be > 0 (inf allowed), got nan"),
        ("--sampler", "gibbs", "argument --sampler: invalid choice: 'gibbs'"),
    ],
)
def test_the_command_line_refuses_bad_values_before_writing(
    tmp_path, monkeypatch, capsys, option: str, value: str, message: str
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        main(["lab", option, value])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []  # no default run folder either


def test_the_command_line_runs_a_lab_in_a_new_timestamped_folder(
    tmp_path, monkeypatch, capsys
) -> None:
    monkeypatch.chdir(tmp_path)
    args = ["lab", "--data", "ellipse", "--loss", "hinge", "--sampler", "langevin"]
    args += ["--steps", "2", "--n", "64", "--resolution", "16", "--sampler-steps", "2"]
    args += ["--no-progress", "--betas", "inf,2", "--hidden", "8,8"]
    assert main(args) == 0
    (run,) = (tmp_path / "runs").iterdir()
    assert run.name.startswith("lab-ellipse-hinge-langevin-")
    out = capsys.readouterr().out
    assert "energy.png" in out and str(run.relative_to(tmp_path)) in out
    config = json.loads((run / "results.json").read_text())["config"]
    assert config["betas"] == ["inf", 2.0]  # strict JSON
    assert config["hidden"] == [8, 8]


def test_an_existing_lab_run_is_kept_unless_overwrite(tmp_path, capsys) -> None:
    run = tmp_path / "run"
    folder = lab_folder(run)
    with folder.claimed(Mode.NEW):
        folder.write_json("results.json", {"earlier": True})
        folder.file("energy.png").write_bytes(b"earlier figure")
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    args = ["lab", "--loss", "energy", "--sampler", "none", "--run-dir", str(run), *TINY_ARGS]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert f"run folder '{run}' already holds a run (energy.png, results.json)" in err
    assert "pass --overwrite to replace it" in err
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before
    # a folder of files eblearn did not write is refused even with --overwrite
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    foreign = ["lab", "--loss", "energy", "--sampler", "none", "--run-dir", str(tmp_path / "mine")]
    assert main([*foreign, "--overwrite", *TINY_ARGS]) == 2
    assert "was not written by eblearn" in capsys.readouterr().err
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"
    assert main([*args, "--overwrite"]) == 0
    saved = json.loads((run / "results.json").read_text())
    assert "earlier" not in saved and saved["config"]["sampler"] == "none"
    assert (run / "energy.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("loss", ["simple", "hinge", "square-square"])
def test_the_margin_option_reaches_every_margin_loss(loss: str) -> None:
    assert _build_loss(LabConfig(loss=loss, margin=2.5)).margin == 2.5


def test_the_registry_refuses_duplicates_and_drives_the_choices() -> None:
    with pytest.raises(ValueError, match="sampler 'langevin' is already registered"):
        LAB_SAMPLERS.register("langevin", NoNegatives)
    expected = {"langevin", "hmc", "cd", "pcd", "hard", "generator", "uniform", "none"}
    assert set(LAB_SAMPLERS.names()) == expected
    subparsers = next(
        a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)
    )
    (sampler,) = [a for a in subparsers.choices["lab"]._actions if a.dest == "sampler"]
    assert list(sampler.choices) == LAB_SAMPLERS.names()
    for name in LAB_SAMPLERS.names():  # every entry says what it does, in one line
        assert LAB_SAMPLERS.describe(name)


@pytest.mark.parametrize("name", LAB_SAMPLERS.names())
def test_every_registered_sampler_runs_a_lab_step(name: str) -> None:
    loss = "hinge" if LAB_SAMPLERS.get(name).draws else "energy"
    config = LabConfig(loss=loss, sampler=name, steps=1, **TINY)
    config.check()
    gen = torch.Generator().manual_seed(0)
    data = load_toy(config.data, config.n, generator=gen)
    energy = _build_energy(config, conditional=False)
    settings = SamplerSettings(bounds=1.5, steps=2, candidates=16)
    draw = LAB_SAMPLERS.get(name)(settings, energy, gen)
    before = [p.detach().clone() for p in energy.parameters()]
    history = _train(config, energy, _build_loss(config), draw, data, (-1.5, 1.5, -1.5, 1.5), gen)
    assert history["step"] == [0] and math.isfinite(history["loss"][0])
    assert any(not torch.equal(a, b) for a, b in zip(before, energy.parameters()))
    # one contrastive point per data point, inside the square (or none at all)
    points = draw(data.y[:5], None)
    if not draw.draws:
        assert points is None and history["negative_energy"] == []
        return
    assert points is not None and points.shape == (5, 2)
    assert len(history["negative_energy"]) == 1
    if name != "hmc":  # HMC chains are not clipped to the square
        assert points.abs().max() <= 1.5


def test_hard_negatives_are_the_lowest_energy_candidates_outside_the_radius() -> None:
    torch.manual_seed(0)
    energy = MLPEnergy(2, hidden=(8,))
    settings = SamplerSettings(bounds=2.0, candidates=32, radius=0.5)
    draw = LAB_SAMPLERS.get("hard")(settings, energy, torch.Generator().manual_seed(3))
    y = torch.tensor([[0.0, 0.0], [1.0, -1.0]])
    chosen = draw(y, None)
    candidates = (2 * torch.rand(32, 2, generator=torch.Generator().manual_seed(3)) - 1) * 2.0
    with torch.no_grad():
        values = energy(candidates, None)
    for i in range(len(y)):  # naive: the lowest energy among the candidates far enough away
        far = [j for j in range(32) if float((candidates[j] - y[i]).norm()) > 0.5]
        best = min(far, key=lambda j: float(values[j]))
        assert torch.equal(chosen[i], candidates[best])


# --- fitted latent models --------------------------------------------------------------------

FITTED = {"n": 64, "resolution": 8, "progress": False, "sampler_steps": 2, "betas": (math.inf, 1.0)}
FITTED_ARGS = ["--n", "64", "--resolution", "8", "--sampler-steps", "2", "--no-progress"]


@pytest.mark.parametrize("name", FITTED_MODELS.names())
def test_every_fitted_model_runs_end_to_end(tmp_path, name: str) -> None:
    entry = FITTED_MODELS.get(name)
    trains = {"steps": 4, "batch_size": 32, "hidden": (8,)} if entry.trains else {}
    config = LabConfig(model=name, run_dir=str(tmp_path / "run"), **FITTED, **trains)
    result = run_lab(config)
    names = sorted(p.name for p in result.figures)
    latent = name in ("kmeans", "gmm", "vae")  # z enumerable: one-hot codes, a 1-D grid
    expected = ["energy.png", "free_energy.png" if latent else "density.png", "chains.png"]
    if name == "dictionary-learning" or entry.trains:  # an objective per iteration or step
        expected.append("curve.png")
    assert names == sorted(expected)
    saved = json.loads((tmp_path / "run" / "results.json").read_text())
    assert saved["fit"]["model"] == name
    assert saved["fit"]["components"] == entry.default_components
    assert saved["config"]["loss"] is None and saved["config"]["sampler"] is None
    assert sorted(lab_folder(tmp_path / "run").written()) == sorted([*names, "results.json"])
    # the drawn energy at the data is the model's own: refit the same way and compare
    data = load_toy(config.data, config.n, generator=torch.Generator().manual_seed(config.seed))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        gen = torch.Generator().manual_seed(config.seed)
        load_toy(config.data, config.n, generator=gen)  # the lab's generator, at the same state
        fitted = fit_lab_model(config.resolved(), data, gen)
    with torch.no_grad():
        expected_energy = float(fitted.model.energy(data.y).mean())
    assert saved["metrics"]["data_energy"] == pytest.approx(expected_energy, rel=1e-5, abs=1e-6)
    if fitted.samples is not None:  # a GAN: its generator's points, drawn and measured too
        with torch.no_grad():
            at_samples = float(fitted.model.energy(fitted.samples).mean())
        assert saved["metrics"]["negative_energy"] == pytest.approx(at_samples, rel=1e-4, abs=1e-6)
    else:
        assert "negative_energy" not in saved["metrics"]


def test_the_kmeans_lab_energy_is_the_distance_to_the_nearest_center(tmp_path) -> None:
    config = LabConfig(model="kmeans", components=3, **FITTED)
    data = load_toy("ellipse", 64, generator=torch.Generator().manual_seed(0))
    fitted = fit_lab_model(config, data, torch.Generator().manual_seed(0))
    centers = fitted.model.cluster_centers_
    points = torch.tensor([[0.0, 0.0], [1.5, 0.2], [-2.0, 1.0], [0.3, -0.9]])
    naive = torch.tensor(
        [min(float(((p - c) ** 2).sum()) for c in centers) for p in points]
    )  # min_k ||y - c_k||², one point and one center at a time
    with torch.no_grad():
        assert torch.allclose(fitted.energy(points), naive, atol=1e-6)
    # the mean over the training data is the inertia divided by N
    with torch.no_grad():
        mean = float(fitted.energy(data.y).mean())
    assert mean == pytest.approx(fitted.model.inertia_ / 64, rel=1e-5)
    # and its free energy at β = ∞ enumerates the K one-hot codes: the same minimum
    latent, codes = fitted.latent
    assert torch.equal(codes.grid, torch.eye(3))
    with torch.no_grad():
        assert torch.allclose(FreeEnergy(latent, codes)(points), naive, atol=1e-6)


def test_the_ica_lab_energy_is_the_negative_log_likelihood_of_its_unmixing() -> None:
    config = LabConfig(model="ica", **FITTED)
    data = load_toy("eight-gaussians", 64, generator=torch.Generator().manual_seed(0))
    fitted = fit_lab_model(config, data, torch.Generator().manual_seed(0))
    ica = fitted.model
    W, mu = ica.components_.tolist(), ica.mean_.tolist()
    log_det = math.log(abs(W[0][0] * W[1][1] - W[0][1] * W[1][0]))
    points = torch.tensor([[0.0, 0.0], [2.0, 0.0], [-1.0, 1.5]])
    naive = []
    for p in points.tolist():  # -log|det W| - Σ_i log(1 / (π cosh(w_iᵀ(p - μ))))
        sources = [sum(W[i][j] * (p[j] - mu[j]) for j in range(2)) for i in range(2)]
        naive.append(-log_det + sum(math.log(math.pi * math.cosh(s)) for s in sources))
    with torch.no_grad():
        assert torch.allclose(fitted.energy(points), torch.tensor(naive), atol=1e-5)
    assert fitted.latent is None  # the sources are computed: the lab draws exp(-F)


def test_the_gmm_lab_energy_is_minus_the_log_likelihood_and_its_beta_one_free_energy() -> None:
    config = LabConfig(model="gmm", components=2, **FITTED)
    data = load_toy("eight-gaussians", 64, generator=torch.Generator().manual_seed(0))
    fitted = fit_lab_model(config, data, torch.Generator().manual_seed(0))
    gmm = fitted.model
    points = torch.tensor([[0.0, 0.0], [2.0, 0.0], [-1.0, 1.5]])
    naive = []
    for p in points:  # -log Σ_k π_k N(p; μ_k, Σ_k), written out
        density = 0.0
        for w, mu, cov in zip(gmm.weights_, gmm.means_, gmm.covariances_):
            d = p - mu
            quad = float(d @ torch.linalg.solve(cov, d))
            density += float(w) * math.exp(-0.5 * quad) / (2 * math.pi * math.sqrt(cov.det()))
        naive.append(-math.log(density))
    latent, codes = fitted.latent
    with torch.no_grad():
        assert torch.allclose(fitted.energy(points), torch.tensor(naive), atol=1e-4)
        assert torch.allclose(FreeEnergy(latent, codes, beta=1.0)(points), fitted.energy(points))


def _relu_mlp(layers: torch.nn.Sequential, inputs: torch.Tensor) -> torch.Tensor:
    """The MLP written out: Linear, ReLU between them, Linear last, one row at a time."""
    linears = [m for m in layers if isinstance(m, torch.nn.Linear)]
    rows = []
    for row in inputs:
        h = row
        for i, linear in enumerate(linears):
            h = linear.weight @ h + linear.bias
            h = h.clamp_min(0) if i < len(linears) - 1 else h
        rows.append(h)
    return torch.stack(rows)


@pytest.mark.parametrize("name", ["ebgan", "wgan-gp"])
def test_a_gan_lab_draws_its_generators_points_on_its_energy(name: str) -> None:
    config = LabConfig(model=name, steps=3, batch_size=32, hidden=(8,), **FITTED)
    data = load_toy("ellipse", 64, generator=torch.Generator().manual_seed(0))
    fitted = fit_lab_model(config, data, torch.Generator().manual_seed(5))
    gan = fitted.model
    # the drawn points are G(ξ), ξ ~ N(0, I_K) with K = 2 (the default noise dimension),
    # drawn from the lab's generator after the fit
    noise = torch.randn(GAN_SAMPLES, 2, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        assert fitted.samples is not None
        assert torch.allclose(fitted.samples, _relu_mlp(gan.sampler.generator, noise), atol=1e-5)
        points = torch.tensor([[0.0, 0.0], [1.5, 0.2], [-2.0, 1.0]])
        if name == "ebgan":  # D(y) = ||Dec(Enc(y)) - y||₂
            codes = _relu_mlp(gan.energy_model.encoder, points)
            naive = (_relu_mlp(gan.energy_model.decoder, codes) - points).norm(dim=1)
        else:  # E(y) = critic(y), a linear output
            naive = _relu_mlp(gan.critic, points)[:, 0]
        assert torch.allclose(fitted.energy(points), naive, atol=1e-5)
    # the fit's curve: the energy's loss per generator update (and EBGAN's two energies)
    assert fitted.history is not None and fitted.history["step"] == [1.0, 2.0, 3.0]
    curves = {"data_energy", "negative_energy"} if name == "ebgan" else set()
    assert set(fitted.history) == {"step", "loss", *curves}
    assert fitted.fit["discriminator_steps"] == (1 if name == "ebgan" else 5)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"loss": "hinge"}, r"--loss does not apply to --model kmeans: it is fitted by Lloyd"),
        ({"sampler": "langevin"}, r"--sampler does not apply to --model kmeans"),
        ({"margin": 2.0}, r"--margin does not apply to --model kmeans"),
        ({"steps": 10}, r"--steps does not apply to --model kmeans"),
        ({"components": 9, "n": 8}, r"kmeans with 9 cluster\(s\) needs at least 9 data points"),
        ({"data": "horn"}, r"the horn data is conditioned on x, .*pick --data eight-gaussians or"),
    ],
)
def test_a_fitted_model_refuses_what_does_not_apply(tmp_path, options, message) -> None:
    run = tmp_path / "run"
    with pytest.raises(ValueError, match=message):
        run_lab(LabConfig(model="kmeans", run_dir=str(run), **options))
    assert not run.exists()


def test_components_are_checked_per_model(tmp_path) -> None:
    run = str(tmp_path / "run")
    with pytest.raises(ValueError, match=r"--model pca in 2-D takes at most 2 component\(s\), "):
        run_lab(LabConfig(model="pca", components=3, run_dir=run))
    with pytest.raises(ValueError, match=r"--model ica takes at least 2 source\(s\), "):
        run_lab(LabConfig(model="ica", components=1, run_dir=run))
    with pytest.raises(ValueError, match=r"--model flow takes at least 2 coupling layer\(s\)"):
        run_lab(LabConfig(model="flow", components=1, run_dir=run))
    with pytest.raises(ValueError, match=r"--components applies to the fitted .*--model mlp"):
        run_lab(LabConfig(components=3, run_dir=run))
    assert not (tmp_path / "run").exists()


def test_the_command_line_refuses_loss_with_a_fitted_model_and_zero_components(
    tmp_path, monkeypatch, capsys
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["lab", "--model", "kmeans", "--loss", "hinge", *FITTED_ARGS]) == 2
    assert "--loss does not apply to --model kmeans" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["lab", "--model", "kmeans", "--components", "0"])
    assert exit_info.value.code == 2
    assert "argument --components: must be >= 1, got 0" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
    args = ["lab", "--model", "kmeans", "--components", "3", *FITTED_ARGS]
    assert main(args) == 0  # the defaults of --loss and --sampler are fine
    (run,) = (tmp_path / "runs").iterdir()
    assert run.name.startswith("lab-ellipse-kmeans-")
    saved = json.loads((run / "results.json").read_text())
    assert saved["fit"]["components"] == 3 and len(saved["fit"]["centers"]) == 3
    assert "data energy" in capsys.readouterr().out


def test_the_smoothness_option_flattens_the_energy_at_the_data() -> None:
    # NLL has an infinite margin: it keeps digging under the data. The energy-smoothness
    # penalty λ·mean ||∇_y F||² at the data must leave smaller gradients there (measured:
    # mean ||∇F||² 3.57 without, 0.12 with λ = 1, after 40 steps).
    from eblearn.losses import input_gradient_norm

    norms = {}
    for smoothness in (0.0, 1.0):
        config = LabConfig(loss="nll", sampler="uniform", steps=40, smoothness=smoothness, **TINY)
        config.check()
        gen = torch.Generator().manual_seed(0)
        torch.manual_seed(0)
        data = load_toy(config.data, config.n, generator=gen)
        energy = _build_energy(config, conditional=False)
        draw = LAB_SAMPLERS.get("uniform")(SamplerSettings(bounds=2.5), energy, gen)
        _train(config, energy, _build_loss(config), draw, data, (-2.5, 2.5, -2.5, 2.5), gen)
        norms[smoothness] = float(input_gradient_norm(energy, data.y).detach().pow(2).mean())
    assert norms[1.0] < 0.5 * norms[0.0], norms
    with pytest.raises(ValueError, match="smoothness must be >= 0, got -1"):
        LabConfig(smoothness=-1.0).check()
