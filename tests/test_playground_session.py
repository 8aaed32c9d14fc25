"""The playground's model layer without a server: configuration, features, data, grids, sessions, snippet."""
from __future__ import annotations

import json

import numpy as np
import pytest

import fastmlp
from fastmlp.playground import config as cfg
from fastmlp.playground import data, features, grids
from fastmlp.playground.errors import PlaygroundError
from fastmlp.playground.session import Session, SessionStore

# ---- configuration ------------------------------------------------------------------------------------------


def test_defaults_are_tf_playgrounds():
    c = cfg.validate({})
    assert (c.dataset, c.problem, c.features, c.layers, c.activation, c.lr, c.batch_size, c.train_ratio) == \
        ("circle", "classification", ("x1", "x2"), (4, 2), "tanh", 0.03, 10, 50)
    assert c.layer_sizes == (2, 4, 2, 1)


def test_query_round_trip_and_view_keys_ignored():
    c = cfg.validate({"dataset": "spiral", "layers": [8, 8, 3], "features": ["sinx2", "x1"], "lr": 0.1,
                      "regularization": "l2", "reg_rate": 0.003, "seed": 42, "backend": "numpy"})
    assert c.features == ("x1", "sinx2")  # canonical order
    assert cfg.from_query(cfg.to_query(c)) == c
    assert cfg.from_query("http://127.0.0.1:5/#" + cfg.to_query(c) + "&show_test=true&speed=5") == c
    assert cfg.from_query("layers=").layers == ()  # zero hidden layers


@pytest.mark.parametrize("raw, words", [
    ({"lr": 0}, "lr"), ({"lr": 11}, "lr"), ({"lr": "fast"}, "lr"), ({"lr": float("nan")}, "lr"),
    ({"noise": 51}, "noise"), ({"noise": True}, "noise"), ({"noise": 2.5}, "noise"),
    ({"layers": [9]}, "layers[0]"), ({"layers": [0]}, "layers[0]"), ({"layers": [1] * 7}, "at most 6"),
    ({"layers": "4,2"}, "layers"), ({"features": []}, "features"), ({"features": ["x3"]}, "feature"),
    ({"features": ["x1", "x1"]}, "twice"), ({"dataset": "moons"}, "dataset"), ({"activation": "gelu"}, "activation"),
    ({"regularization": "l3"}, "regularization"), ({"backend": "cuda"}, "backend"), ({"colour": 1}, "colour"),
    ({"dataset": "plane"}, "regression"), ({"problem": "regression"}, "classification"),
    ({"batch_size": 0}, "batch_size"), ({"train_ratio": 95}, "train_ratio"), ({"seed": -1}, "seed"),
])
def test_bad_configurations_name_the_problem(raw, words):
    with pytest.raises(PlaygroundError, match=words.replace("[", r"\[").replace("]", r"\]")):
        cfg.validate(raw)


def test_bad_query_strings():
    for query in ("layers=a,b", "lr=abc", "nonsense=1", "dataset=custom&problem=sideways"):
        with pytest.raises(PlaygroundError):
            cfg.from_query(query)


# ---- features, data, grids ----------------------------------------------------------------------------------------

def test_features_match_their_snippet_expressions():
    X = np.random.default_rng(0).uniform(-6, 6, (50, 2))
    x1, x2 = X[:, 0], X[:, 1]
    names = list(features.FEATURE_ORDER)
    F = features.transform(X, names)
    assert F.shape == (50, 7)
    for k, expr in enumerate(features.expressions(names)):
        np.testing.assert_array_equal(F[:, k], eval(expr, {"np": np, "x1": x1, "x2": x2}))


def test_grid_layout_row_zero_is_the_top():
    p = grids.plane(4)
    assert p.shape == (16, 2)
    np.testing.assert_allclose(p[0], [-4.5, 4.5])  # top-left cell centre
    np.testing.assert_allclose(p[3], [4.5, 4.5])  # along the row x1 grows
    np.testing.assert_allclose(p[15], [4.5, -4.5])


def test_quantize_clamps_and_round_trips():
    v = np.array([-5.0, -1.0, 0.0, 0.5, 1.0, 9.0, np.nan, np.inf])
    np.testing.assert_array_equal(grids.quantize(v), [0, 0, 128, 191, 255, 255, 128, 255])
    np.testing.assert_allclose(grids.decode(grids.encode(v[:6])), np.clip(v[:6], -1, 1), atol=1 / 127.5)


def test_split_is_random_and_complete():
    train, test = data.split(500, 30, seed=3)
    assert len(train) == 150 and len(test) == 350
    assert sorted(np.concatenate([train, test]).tolist()) == list(range(500))
    np.testing.assert_array_equal(train, data.split(500, 30, seed=3)[0])


def test_csv_parsing():
    good = data.parse_csv("x1,x2,label\n1,2,1\n-1,-2,0\n\n3,3,1\n0,0,0\n")
    assert good.problem == "classification" and good.has_header
    np.testing.assert_array_equal(good.points.y, [1, -1, 1, -1])
    reg = data.parse_csv("1,2,0.5\n-1,-2,3\n3,3,-1\n0,0,2\n")
    assert reg.problem == "regression" and not reg.has_header


@pytest.mark.parametrize("text, words", [
    ("", "empty"), ("   \n", "empty"), ("1,2\n3,4\n", "line 1: expected 3"), ("1,2,3,4\n", "line 1"),
    ("x1,x2,y\n1,2,1\n1.5,abc,1\n", "line 3: x2"), ("1,2,nan\n", "finite"), ("1,2,inf\n", "finite"),
    ("7,0,1\n1,1,1\n0,0,-1\n1,2,1\n", "outside"), ("1,1,1\n2,2,-1\n", "at least"),
    ("1,1,1\x00\n", "NUL"), ('1,"2,1\n', "expected 3"),
])
def test_malformed_csv_is_explained(text, words):
    with pytest.raises(PlaygroundError, match=words):
        data.parse_csv(text)


def test_csv_row_limit():
    rows = "\n".join(f"{i % 5},{i % 3},1" for i in range(data.MAX_CSV_ROWS + 1))
    with pytest.raises(PlaygroundError, match="more than"):
        data.parse_csv(rows)


# ---- sessions -----------------------------------------------------------------------------------------------

def test_state_shapes_and_neuron_heatmaps():
    s = Session({"layers": [3, 2], "features": ["x1", "x2", "x1x2"]})
    s.step(5)
    st = s.state(include_data=True)
    json.dumps(st, allow_nan=False)  # JSON-ready
    assert st["network"]["layer_sizes"] == [3, 3, 2, 1]
    assert [np.shape(W) for W in st["network"]["weights"]] == [(3, 3), (2, 3), (1, 2)]
    assert len(grids.decode(st["grids"]["output"])) == grids.OUTPUT_SIZE ** 2
    g = grids.NEURON_SIZE
    assert [len(grids.decode(n)) for n in st["grids"]["neurons"]] == [3 * g * g, 2 * g * g, g * g]
    # the last layer's heatmap is the output computed on the small grid
    out_small = s.net.predict(features.transform(grids.plane(g), s.config.features).astype(np.float32))[:, 0]
    np.testing.assert_allclose(grids.decode(st["grids"]["neurons"][-1]), np.clip(out_small, -1, 1), atol=0.01)
    assert len(st["data"]["train"]) + len(st["data"]["test"]) == 500
    assert st["epoch"] == 5 and st["history"][-1][0] == 5


def test_training_solves_circle_and_loss_is_tf_like():
    s = Session()
    first = s.losses()["test"]
    assert 0.3 < first < 1.0  # ≈ 0.5 untrained, as in TF Playground
    for _ in range(10):
        s.step(10)
    assert s.losses()["test"] < 0.05


def test_configure_live_keys_keep_training_others_rebuild():
    s = Session()
    s.step(7)
    assert s.configure({"lr": 0.1, "batch_size": 5}) is False and s.epoch == 7
    assert s.changed_during_training
    version = s.version
    assert s.configure({"activation": "relu"}) is True
    assert s.epoch == 0 and s.version == version + 1 and s.net.activations[0] == "relu"
    before = s.config
    with pytest.raises(PlaygroundError):
        s.configure({"layers": [4, 99]})
    assert s.config == before  # nothing changed


def test_same_seed_same_start_reset_restarts():
    a, b = Session({"seed": 5}), Session({"seed": 5})
    np.testing.assert_array_equal(a.net.params, b.net.params)
    start = a.net.params.copy()
    a.step(3)
    a.reset()
    np.testing.assert_array_equal(a.net.params, start)
    assert a.epoch == 0


def test_divergence_is_reported_not_raised():
    s = Session({"lr": 3, "activation": "linear", "layers": [8, 8], "features": ["x1sq", "x2sq"],
                 "problem": "regression", "dataset": "plane"})
    s.step(5)
    assert s.diverged and "diverged" in s.diverged
    assert np.isfinite(s.net.params).all()
    json.dumps(s.state(), allow_nan=False)  # overflowed losses travel as null
    s.configure({"lr": 0.001})
    assert s.diverged is None


def test_upload_switches_to_custom_and_back_needs_data():
    s = Session()
    rng = np.random.default_rng(1)
    X = rng.uniform(-5, 5, (80, 2))
    text = "\n".join(f"{a},{b},{1 if a * b > 0 else 0}" for a, b in X)
    assert "classification" in s.upload_csv(text)
    assert s.config.dataset == "custom" and len(s.run.points.y) == 80
    s.step(2)
    with pytest.raises(PlaygroundError, match="needs an uploaded CSV"):
        Session({"dataset": "custom"})


def test_bad_epochs():
    s = Session()
    for epochs in (0, -1, 10**6, "many", 2.5, True):
        with pytest.raises(PlaygroundError):
            s.step(epochs)
    assert s.epoch == 0


def test_store_expires_and_caps():
    now = [0.0]
    store = SessionStore(ttl=10, max_sessions=2, clock=lambda: now[0])
    a, _ = store.create()
    b, _ = store.create()
    now[0] = 5
    store.get(a)  # a is now the most recently used
    c, _ = store.create()  # over the cap: b (least recently used) goes
    with pytest.raises(PlaygroundError, match="unknown or expired"):
        store.get(b)
    store.get(c)
    now[0] = 16  # a idle 11 s > ttl, c idle 11 s
    with pytest.raises(PlaygroundError):
        store.get(a)
    assert len(store) == 0
    with pytest.raises(PlaygroundError):
        store.create({"lr": -1})
    for bad in (None, 3, ""):
        with pytest.raises(PlaygroundError):
            store.get(bad)


def test_snippet_for_custom_data_reproduces_the_run(tmp_path, monkeypatch):
    rng = np.random.default_rng(2)
    X = rng.uniform(-5, 5, (60, 2))
    text = "x1,x2,label\n" + "\n".join(f"{a:.6f},{b:.6f},{np.tanh(a * b / 10):.6f}" for a, b in X)
    s = Session({"features": ["x1", "x2", "x1x2"], "layers": [5]})
    s.upload_csv(text)
    assert s.config.problem == "regression"
    s.step(9)
    (tmp_path / "my_points.csv").write_text(text)
    monkeypatch.chdir(tmp_path)
    ns = {}
    exec(compile(s.snippet(), "snippet.py", "exec"), ns)
    np.testing.assert_array_equal(ns["net"].params, s.net.params)
    assert isinstance(fastmlp.load(tmp_path / "playground_model.npz"), fastmlp.MLP)
