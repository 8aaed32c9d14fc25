"""fastmlp.autodiff: scalar computation graphs, reverse and forward mode, their op counts, and DOT output."""
from __future__ import annotations

import math
import sys

import numpy as np
import pytest

from fastmlp import MLP
from fastmlp import autodiff as ad
from fastmlp.autodiff import OpCount, Var, evaluation_ops, forward_mode, reverse_mode

BACKENDS = ["cython", "numba", "numpy"]


def lecture_f(x, y, z):
    return ad.log((x + y) ** 2 + z)


def product_of_sums(*xs):
    """(x_1 + … + x_k)(x_{k+1} + … + x_2k): the lecture's (x1 + x2)(x3 + x4) for k = 2."""
    k = len(xs) // 2
    return sum(xs[1:k], xs[0]) * sum(xs[k + 1:], xs[k])


# ---- the lecture's worked examples ------------------------------------------------------------------------

def test_lecture_example_reverse_mode():
    x, y, z = Var(2.0, "x"), Var(1.0, "y"), Var(1.0, "z")
    f = lecture_f(x, y, z)
    assert f.value == pytest.approx(math.log(10.0), abs=1e-15)
    f.backward()
    assert x.grad == pytest.approx(0.6, abs=1e-15)
    assert y.grad == pytest.approx(0.6, abs=1e-15)
    assert z.grad == pytest.approx(0.1, abs=1e-15)
    assert f.grad == 1.0


def test_lecture_example_forward_mode_agrees():
    value, grad, ops = forward_mode(lecture_f, [2.0, 1.0, 1.0])
    assert value == pytest.approx(math.log(10.0), abs=1e-15)
    np.testing.assert_allclose(grad, [0.6, 0.6, 0.1], rtol=0, atol=1e-15)
    assert isinstance(ops, OpCount) and ops.total > 0


def test_lecture_op_counts_product_of_sums():
    """y = (x1 + x2)(x3 + x4): the derivative part takes 2 additions in reverse mode, 4 in forward mode."""
    fwd = forward_mode(product_of_sums, [1.0, 2.0, 3.0, 4.0])
    rev = reverse_mode(product_of_sums, [1.0, 2.0, 3.0, 4.0])
    np.testing.assert_array_equal(fwd.grad, [7.0, 7.0, 3.0, 3.0])
    np.testing.assert_array_equal(rev.grad, [7.0, 7.0, 3.0, 3.0])
    assert fwd.value == rev.value == 21.0
    assert rev.ops == OpCount(add=2)
    assert fwd.ops == OpCount(add=4)


@pytest.mark.parametrize("k", [1, 2, 4, 8, 16])
def test_forward_work_grows_with_inputs_reverse_does_not(k):
    """With n = 2k inputs, forward mode does n/2 times the additions of reverse mode: 2k(k−1) vs 2(k−1)."""
    xs = [float(i + 1) for i in range(2 * k)]
    fwd, rev = forward_mode(product_of_sums, xs), reverse_mode(product_of_sums, xs)
    np.testing.assert_array_equal(fwd.grad, rev.grad)
    assert rev.ops.add == 2 * (k - 1)
    assert fwd.ops.add == 2 * k * (k - 1)
    assert fwd.ops.mul == rev.ops.mul == 0


def _dense_function(n):
    """f(x) = tanh(Σ w_i x_i) · log(1 + Σ x_i²): a function whose cost grows linearly with n."""
    w = [0.1 * (i % 7 - 3) for i in range(n)]

    def f(*xs):
        s = sum((wi * xi for wi, xi in zip(w, xs[1:])), w[0] * xs[0])
        q = sum((xi ** 2 for xi in xs[1:]), xs[0] ** 2)
        return ad.tanh(s) * ad.log(1 + q)
    return f


def test_forward_cost_scales_with_inputs_reverse_cost_stays_a_multiple_of_f():
    ratios_fwd, ratios_rev = [], []
    for n in (2, 8, 32, 128):
        f = _dense_function(n)
        xs = list(np.linspace(-1.0, 1.0, n) + 0.05)
        y = f(*[Var(v) for v in xs])
        cost = evaluation_ops(y).total
        fwd, rev = forward_mode(f, xs), reverse_mode(f, xs)
        np.testing.assert_allclose(fwd.grad, rev.grad, rtol=1e-12, atol=1e-15)
        ratios_fwd.append(fwd.ops.total / cost)
        ratios_rev.append(rev.ops.total / cost)
    # Reverse mode: a bounded multiple of evaluating f, for 2 as for 128 inputs.
    assert max(ratios_rev) < 3.0
    assert max(ratios_rev) / min(ratios_rev) < 1.5
    # Forward mode: proportional to the number of inputs (one pass each, each about as costly as f).
    for n, r in zip((2, 8, 32, 128), ratios_fwd):
        assert 0.4 * n < r < 3.0 * n, (n, r)
    assert ratios_fwd[-1] > 40 * ratios_rev[-1]


# ---- every operation against finite differences -----------------------------------------------------------

# (name, f, point): f takes Vars or floats (the same code evaluates the numeric difference quotient).
CASES = [
    ("add", lambda a, b: a + b, (0.7, -1.3)),
    ("sub", lambda a, b: a - b, (0.7, -1.3)),
    ("mul", lambda a, b: a * b, (0.7, -1.3)),
    ("div", lambda a, b: a / b, (0.7, -1.3)),
    ("pow var var", lambda a, b: a ** b, (1.7, 0.6)),
    ("add number right", lambda a: a + 2.5, (0.3,)),
    ("add number left", lambda a: 2.5 + a, (0.3,)),
    ("sub number right", lambda a: a - 2.5, (0.3,)),
    ("sub number left", lambda a: 2.5 - a, (0.3,)),
    ("mul number right", lambda a: a * -1.5, (0.3,)),
    ("mul number left", lambda a: -1.5 * a, (0.3,)),
    ("div number right", lambda a: a / 4.0, (0.3,)),
    ("div number left", lambda a: 4.0 / a, (0.3,)),
    ("square", lambda a: a ** 2, (-0.8,)),
    ("cube", lambda a: a ** 3, (-0.8,)),
    ("sqrt", lambda a: a ** 0.5, (2.3,)),
    ("power zero", lambda a: a ** 0 + a, (2.3,)),
    ("power one", lambda a: a ** 1, (2.3,)),
    ("number to the power", lambda a: 2.0 ** a, (0.9,)),
    ("neg", lambda a: -a, (0.9,)),
    ("x * x (a node used twice)", lambda a: a * a, (0.9,)),
    ("diamond", lambda a, b: (a * b) * (a + b) - a / (b * b), (0.9, 1.4)),
]
UNARY = {
    "neg": (-0.7, 0.4),
    "log": (0.3, 2.5),
    "exp": (-1.2, 0.8),
    "tanh": (-1.1, 0.6),
    "sigmoid": (-30.0, -1.1, 0.6, 30.0),
    "relu": (-0.9, 0.7),
    "softplus": (-40.0, -1.1, 0.6, 40.0),
}
REFERENCE = {
    "neg": lambda v: -v,
    "log": math.log,
    "exp": math.exp,
    "tanh": math.tanh,
    "sigmoid": lambda v: 1.0 / (1.0 + math.exp(-v)),
    "relu": lambda v: max(v, 0.0),
    "softplus": lambda v: math.log1p(math.exp(v)) if v < 30 else v + math.log1p(math.exp(-v)),
}
for name, points in UNARY.items():
    for p in points:
        CASES.append((f"{name} method at {p}", (lambda m: lambda a: getattr(a, m)())(name), (p,)))
        CASES.append((f"{name} function at {p}", (lambda m: lambda a: getattr(ad, m)(a))(name), (p,)))


def _numeric(f, point):
    """Central differences of f at point, f evaluated through the graph's values."""
    out = []
    for i in range(len(point)):
        h = 1e-6 * max(1.0, abs(point[i]))
        up, down = list(point), list(point)
        up[i] += h
        down[i] -= h
        fu = f(*[Var(v) for v in up]).value
        fd = f(*[Var(v) for v in down]).value
        out.append((fu - fd) / (2 * h))
    return np.array(out)


@pytest.mark.parametrize("name,f,point", CASES, ids=[c[0] for c in CASES])
def test_each_operation_against_finite_differences(name, f, point):
    numeric = _numeric(f, point)
    xs = [Var(v) for v in point]
    y = f(*xs)
    y.backward()
    reverse = np.array([x.grad for x in xs])
    forward = forward_mode(f, list(point)).grad
    np.testing.assert_allclose(reverse, numeric, rtol=1e-6, atol=1e-8, err_msg=name)
    np.testing.assert_allclose(forward, reverse, rtol=1e-13, atol=1e-15, err_msg=name)


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_values_match_the_reference_definitions(name):
    for p in UNARY[name]:
        assert getattr(Var(p), name)().value == pytest.approx(REFERENCE[name](p), rel=1e-14, abs=1e-300)
        assert getattr(ad, name)(p).value == pytest.approx(REFERENCE[name](p), rel=1e-14, abs=1e-300)


def test_relu_derivative_at_zero_is_zero_like_the_backends():
    x = Var(0.0)
    x.relu().backward()
    assert x.grad == 0.0
    assert forward_mode(lambda a: a.relu(), [0.0]).grad[0] == 0.0


def test_numpy_scalars_on_either_side():
    x = Var(1.5)
    for y in (np.float64(2.0) * x, x * np.float64(2.0), np.float32(2.0) * x):
        assert isinstance(y, Var) and y.value == 3.0
    y = np.float64(3.0) - x
    assert isinstance(y, Var) and y.value == 1.5


# ---- backward semantics --------------------------------------------------------------------------------------

def test_backward_twice_gives_the_same_grads():
    x, y, z = Var(2.0), Var(1.0), Var(1.0)
    f = lecture_f(x, y, z)
    ops1 = f.backward()
    first = (x.grad, y.grad, z.grad)
    ops2 = f.backward()
    assert (x.grad, y.grad, z.grad) == first
    assert ops1 == ops2


def test_shared_subgraph_overwrites_or_accumulates():
    x, w = Var(0.5), Var(-2.0)
    shared = (x * w).tanh()
    y1 = shared * 3.0
    y2 = shared ** 2 + w
    t = math.tanh(-1.0)
    d1_dx = 3.0 * (1 - t * t) * -2.0
    d2_dx = 2 * t * (1 - t * t) * -2.0
    d2_dw = 2 * t * (1 - t * t) * 0.5 + 1.0
    y1.backward()
    assert x.grad == pytest.approx(d1_dx, rel=1e-14)
    y2.backward()  # overwrites: ∂y2/∂v, nothing of y1 left in the shared nodes
    assert x.grad == pytest.approx(d2_dx, rel=1e-14)
    assert w.grad == pytest.approx(d2_dw, rel=1e-14)
    y1.backward()
    y2.backward(accumulate=True)  # adds: ∂(y1 + y2)/∂v
    assert x.grad == pytest.approx(d1_dx + d2_dx, rel=1e-14)
    total = y1 + y2
    total.backward()
    assert x.grad == pytest.approx(d1_dx + d2_dx, rel=1e-14)


def test_node_used_many_times_sums_its_uses():
    x = Var(3.0)
    y = x * x * x + x + x  # ∂/∂x = 3x² + 2
    y.backward()
    assert x.grad == 29.0


def test_intermediate_nodes_get_their_gradient():
    x, y = Var(2.0), Var(1.0)
    s = x + y
    f = s ** 2
    f.backward()
    assert s.grad == 6.0 and x.grad == 6.0


def test_constants_get_no_gradient():
    x = Var(2.0)
    c = ad.exp(1.0)  # a constant node: built from a number only
    y = x * c
    assert c.is_constant and not x.is_constant and not y.is_constant
    y.backward()
    assert c.grad == 0.0
    assert x.grad == pytest.approx(math.e, rel=1e-15)


def test_deep_graph_beyond_the_recursion_limit():
    depth = 5 * sys.getrecursionlimit() + 7
    x = Var(0.3)
    y = x
    for _ in range(depth):
        y = (y + x) * 0.5  # y stays x, ∂y/∂x stays 1
    ops = y.backward()
    assert x.grad == pytest.approx(1.0, rel=1e-12)
    assert ops.add >= depth  # every level's adjoint reaches x through an addition
    result = forward_mode(lambda a: ((a + a) * 0.5).tanh(), [0.3])
    assert result.grad[0] == pytest.approx(1 - math.tanh(0.3) ** 2, rel=1e-14)
    chain = Var(1.0)
    for _ in range(depth):
        chain = chain * 1.0
    assert evaluation_ops(chain).mul == depth
    assert chain.to_dot().count("->") == 2 * depth  # each product has two inputs: the chain and 1.0


# ---- DOT output ------------------------------------------------------------------------------------------------

def test_to_dot_has_values_gradients_and_edges():
    x, y, z = Var(2.0, "x"), Var(1.0, "y"), Var(1.0, "z")
    f = lecture_f(x, y, z)
    f.backward()
    dot = f.to_dot()
    assert dot.startswith('digraph "graph" {') and dot.rstrip().endswith("}")
    assert 'label="x\\nvalue = 2\\ngrad = 0.6"' in dot
    assert 'label="z\\nvalue = 1\\ngrad = 0.1"' in dot
    assert "log\\nvalue = 2.30259\\ngrad = 1" in dot
    # x, y, z, the constant 2, +, **, +, log: 8 nodes; 7 edges (+ has 2, ** has 2, + has 2, log 1).
    assert dot.count("[label=") == 8
    assert dot.count(" -> ") == 7
    assert "style=dashed" in dot  # the constant exponent


def test_to_dot_escapes_names():
    v = Var(1.0, 'say "hi" \\ bye')
    dot = (v * 2).to_dot(name='my "graph"')
    assert 'say \\"hi\\" \\\\ bye' in dot
    assert 'digraph "my \\"graph\\""' in dot


# ---- errors ------------------------------------------------------------------------------------------------------

def test_invalid_values_and_domains():
    with pytest.raises(TypeError, match="real number"):
        Var("1.0")
    with pytest.raises(TypeError, match="real number"):
        Var(True)
    with pytest.raises(ValueError, match="finite"):
        Var(float("nan"))
    with pytest.raises(ValueError, match="log of a non-positive"):
        Var(0.0).log()
    with pytest.raises(ValueError, match="not a real number"):
        Var(-8.0) ** (1.0 / 3.0)
    with pytest.raises(ZeroDivisionError, match="division by zero"):
        Var(1.0) / 0
    with pytest.raises(OverflowError, match="exp"):
        Var(1000.0).exp()
    with pytest.raises(TypeError):
        Var(1.0) + "a"
    with pytest.raises(TypeError):
        ad.tanh("a")
    with pytest.raises(ValueError, match="base <= 0"):
        (Var(-2.0) ** Var(2.0)).backward()


def test_driver_argument_errors():
    with pytest.raises(TypeError, match="callable"):
        forward_mode(3, [1.0])
    with pytest.raises(TypeError, match="inputs\\[1\\]"):
        forward_mode(lambda a, b: a + b, [1.0, "b"])
    with pytest.raises(ValueError, match="inputs\\[0\\]"):
        reverse_mode(lambda a: a, [float("inf")])
    with pytest.raises(TypeError, match="return a Var"):
        reverse_mode(lambda a: "a", [1.0])
    with pytest.raises(TypeError, match="list, tuple"):
        forward_mode(lambda a: a, 1.0)
    constant = forward_mode(lambda a, b: 5.0, [1.0, 2.0])
    assert constant.value == 5.0 and constant.grad.tolist() == [0.0, 0.0] and constant.ops.total == 0


# ---- a small MLP built from Vars has the backends' gradient -----------------------------------------------------

ACTS = {
    "identity": lambda v: v,
    "relu": Var.relu,
    "sigmoid": Var.sigmoid,
    "tanh": Var.tanh,
    "softplus": Var.softplus,
}


def var_loss(net, X, Y):
    """The net's loss on (X, Y) as a graph of Vars: (loss, [per layer: (W Vars, b Vars)])."""
    layers = [([[Var(float(w)) for w in row] for row in W], [Var(float(v)) for v in b])
              for W, b in zip(net.weights, net.biases)]
    total = 0.0
    for x, y in zip(X, Y):
        h = [float(v) for v in x]
        for (W, b), act in zip(layers, net.activations):
            g = ACTS[act]
            h = [g(sum((wij * hj for wij, hj in zip(row, h)), bi)) for row, bi in zip(W, b)]
        total = total + sum((hi - float(yi)) ** 2 for hi, yi in zip(h, y))
    if net.loss_name == "mse":
        total = total / (X.shape[0] * Y.shape[1])
    return total, layers


def layer_grads(layers):
    """∂L/∂θ in θ's layout [W_0, b_0, W_1, b_1, ...] from the Vars' grads."""
    parts = []
    for W, b in layers:
        parts.append(np.array([[w.grad for w in row] for row in W]).ravel())
        parts.append(np.array([v.grad for v in b]))
    return np.concatenate(parts)


NETS = [
    ([3, 4, 2], "tanh", "identity"),
    ([2, 5, 3, 1], ["sigmoid", "relu"], "softplus"),
    ([4, 3, 2], "softplus", "sigmoid"),
    ([1, 6, 2], "relu", "tanh"),
]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("loss", ["sse", "mse"])
@pytest.mark.parametrize("sizes,hidden,output", NETS, ids=[f"{s}" for s, _, _ in NETS])
def test_var_mlp_gradient_matches_loss_and_grad(backend, loss, sizes, hidden, output):
    net = MLP(sizes, activation=hidden, output_activation=output, loss=loss, dtype="float64", seed=3,
              backend=backend)
    rng = np.random.default_rng(7)
    net.params = rng.uniform(-1.0, 1.0, net.n_params)  # non-zero biases too
    X = rng.uniform(-2.0, 2.0, (5, sizes[0]))
    Y = rng.standard_normal((5, sizes[-1]))
    value, grad = net.loss_and_grad(X, Y)
    L, layers = var_loss(net, X, Y)
    L.backward()
    assert L.value == pytest.approx(value, rel=1e-12)
    np.testing.assert_allclose(layer_grads(layers), grad, rtol=1e-10, atol=1e-12 * np.abs(grad).max())


def test_var_mlp_forward_mode_agrees_and_costs_more():
    net = MLP([3, 4, 2], activation="tanh", dtype="float64", seed=0, backend="numpy")
    rng = np.random.default_rng(1)
    X, Y = rng.uniform(-1, 1, (4, 3)), rng.standard_normal((4, 2))

    def loss_of(*theta):
        net_vars = iter(theta)
        total = 0.0
        shapes = [(W.shape, b.shape) for W, b in zip(net.weights, net.biases)]
        layers = [([[next(net_vars) for _ in range(ws[1])] for _ in range(ws[0])],
                   [next(net_vars) for _ in range(bs[0])]) for ws, bs in shapes]
        for x, y in zip(X, Y):
            h = list(x)
            for (W, b), act in zip(layers, net.activations):
                h = [ACTS[act](sum((w * v for w, v in zip(row, h)), bi)) for row, bi in zip(W, b)]
            total = total + sum((hi - yi) ** 2 for hi, yi in zip(h, y))
        return total

    fwd = forward_mode(loss_of, net.params.copy())
    rev = reverse_mode(loss_of, net.params.copy())
    value, grad = net.loss_and_grad(X, Y)
    np.testing.assert_allclose(rev.grad, grad, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(fwd.grad, grad, rtol=1e-10, atol=1e-13)
    assert fwd.value == pytest.approx(value, rel=1e-12)
    assert fwd.ops.total > 5 * rev.ops.total  # 26 parameters: 26 forward passes against one sweep
