"""Computation graphs of scalars, differentiated in reverse mode (backpropagation) and in forward mode.

    x, y, z = Var(2.0, "x"), Var(1.0, "y"), Var(1.0, "z")
    f = log((x + y) ** 2 + z)          # builds the graph, f.value = log 10
    ops = f.backward()                 # x.grad = y.grad = 0.6, z.grad = 0.1
    print(f.to_dot())                  # Graphviz text, values and gradients on the nodes
    forward_mode(lambda x, y, z: log((x + y) ** 2 + z), [2.0, 1.0, 1.0])   # same gradient, pass per input

Every operation computes its value when it is applied; its local derivatives ∂node/∂input are one rule
function written right below that forward computation (Var._d_mul under Var.__mul__, ...). Python numbers
on either side of an operator become constant leaves: they take part in the values but get no gradient.

What the modes count (OpCount): the real-number arithmetic that obtaining the gradient needs, given the
values of the inputs. `add` counts additions and subtractions (a negation is one: 0 − x), `mul`
multiplications, `div` divisions, `func` evaluations of exp, log, tanh, sigmoid, softplus and of a power
other than a square (a square is one `mul`; relu is a selection, no arithmetic). The rules:

  * Derivatives are combined by the chain rule, tangent ẏ = Σ (∂y/∂u) u̇ forward and adjoint
    ū = Σ (∂y/∂u) ȳ backward. An operation whose result is known without computing it is not performed
    and not counted: multiplying by a local derivative that is the constant ±1 (of +, −, and neg) or
    by the seed 1, adding a contribution that is structurally zero (no path from the seed reaches it),
    and arithmetic on constants alone (known when the graph is built).
  * Local derivatives that depend on values (∂(ab)/∂a = b, ∂log u/∂u = 1/u) need those values: a node's
    value is computed when first needed, counting its own operation, and then reused - within one
    reverse sweep (all inputs share it) but not across forward passes (each pass is a separate
    evaluation for one seed, as with dual numbers: passes share nothing).
  * f's own value is not part of the count unless a derivative needs it (it costs the same in both
    modes); `evaluation_ops(y)` gives the cost of evaluating f once, for comparison.

So for y = (x1 + x2)(x3 + x4): reverse mode computes x1 + x2 and x3 + x4 once (∂y/∂(x1 + x2) = x3 + x4
and vice versa) and passes them to the inputs by multiplications by 1: 2 additions. Forward mode's pass
for x1 has tangent 1 on x1 + x2, 0 on x3 + x4, so ẏ = (x3 + x4)·1 needs x3 + x4: one addition per pass,
4 in all. In general forward mode's work is about (number of inputs) × the cost of f, reverse mode's a
small constant times the cost of f, whatever the number of inputs.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

__all__ = ["Var", "OpCount", "ADResult", "forward_mode", "reverse_mode", "evaluation_ops",
           "neg", "log", "exp", "tanh", "sigmoid", "relu", "softplus"]


# ---- counting --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class OpCount:
    """Arithmetic performed, by kind (see the module docstring for what is counted)."""

    add: int = 0   # additions and subtractions; a negation counts as one
    mul: int = 0
    div: int = 0
    func: int = 0  # exp, log, tanh, sigmoid, softplus, and powers other than squares

    @property
    def total(self) -> int:
        return self.add + self.mul + self.div + self.func

    def __add__(self, other):
        if not isinstance(other, OpCount):
            return NotImplemented
        return OpCount(self.add + other.add, self.mul + other.mul, self.div + other.div,
                       self.func + other.func)

    def __str__(self):
        return f"{self.add} add, {self.mul} mul, {self.div} div, {self.func} func"


# Costs of computing one node's value, as (add, mul, div, func).
_ADD, _MUL, _DIV, _FUNC, _FREE = (1, 0, 0, 0), (0, 1, 0, 0), (0, 0, 1, 0), (0, 0, 0, 1), (0, 0, 0, 0)


class _Unit:
    """The exact constants +1 and −1 of a derivative rule: multiplying by them is free."""

    __slots__ = ("sign",)

    def __init__(self, sign):
        self.sign = sign

    def __float__(self):
        return float(self.sign)


ONE, MINUS_ONE = _Unit(1), _Unit(-1)


class _Arith:
    """Counting arithmetic for one derivative computation; node values are computed (counted) once each.

    Terms are floats or the units ONE / MINUS_ONE; structural zeros are None and handled by the callers.
    """

    def __init__(self):
        self.add_ = self.mul_ = self.div_ = self.func_ = 0
        self._known = set()

    @property
    def ops(self) -> OpCount:
        return OpCount(self.add_, self.mul_, self.div_, self.func_)

    def value(self, node) -> float:
        """node.value, counting the operations that compute it and the unknown values it depends on."""
        if id(node) in self._known or not node._parents or not node._requires:
            return node.value  # leaves are given; constant subexpressions are known when the graph is built
        stack = [node]
        while stack:  # iterative: a long chain of unknown values must not exhaust Python's stack
            top = stack[-1]
            missing = [p for p in top._parents if p._parents and p._requires and id(p) not in self._known]
            if missing:
                stack.extend(missing)
                continue
            stack.pop()
            if id(top) not in self._known:
                self._known.add(id(top))
                a, m, d, f = top._cost
                self.add_ += a
                self.mul_ += m
                self.div_ += d
                self.func_ += f
        return node.value

    def mul(self, x, y):
        if isinstance(x, _Unit):
            return y if x.sign > 0 else self.neg(y)
        if isinstance(y, _Unit):
            return x if y.sign > 0 else self.neg(x)
        self.mul_ += 1
        return x * y

    def neg(self, x):
        if isinstance(x, _Unit):
            return MINUS_ONE if x.sign > 0 else ONE
        self.add_ += 1
        return -x

    def add(self, x, y):
        self.add_ += 1
        return float(x) + float(y)

    def sub(self, x, y):
        self.add_ += 1
        return float(x) - float(y)

    def div(self, x, y):
        self.div_ += 1
        return float(x) / float(y)

    def func(self, fn, *args):
        self.func_ += 1
        return fn(*(float(a) for a in args))


# ---- scalar functions with stable forms ------------------------------------------------------------------

def _sigmoid(z: float) -> float:
    # exp of a non-positive number only: no overflow for any z.
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def _softplus(z: float) -> float:
    return max(z, 0.0) + math.log1p(math.exp(-abs(z)))


def _pow(a: float, b: float) -> float:
    try:
        return math.pow(a, b)
    except ValueError:  # math's "domain error" says neither which operation nor which numbers
        raise ValueError(f"{a!r} ** {b!r} is not a real number") from None
    except OverflowError:
        raise OverflowError(f"{a!r} ** {b!r} overflows a float") from None


# ---- the graph -------------------------------------------------------------------------------------------

def _lift(x):
    """x as a Var: a Var unchanged, a real number as a constant leaf; NotImplemented otherwise."""
    if isinstance(x, Var):
        return x
    if type(x) is float or type(x) is int or (isinstance(x, numbers.Real) and not isinstance(x, bool)):
        return Var._const(float(x))  # the exact-type checks first: they are the common, fast case
    return NotImplemented


class Var:
    """A scalar node of a computation graph: `value`, and after y.backward() `grad` = ∂y/∂(this node).

    Var(value, name=None) is an input (a leaf that receives a gradient). Operators + - * / ** (with
    Python numbers on either side) and the methods neg, log, exp, tanh, sigmoid, relu, softplus build
    new nodes.
    """

    __slots__ = ("value", "grad", "name", "op", "_parents", "_rule", "_cost", "_requires", "__weakref__")
    __array_ufunc__ = None  # numpy scalars on the left defer to our reflected operators

    def __init__(self, value, name=None):
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(f"Var value must be a real number, got {type(value).__name__}")
        value = float(value)
        if not math.isfinite(value):
            raise ValueError(f"Var value must be finite, got {value}")
        if name is not None and not isinstance(name, str):
            raise TypeError(f"Var name must be a str, got {type(name).__name__}")
        self.value, self.grad, self.name, self.op = value, 0.0, name, None
        self._parents, self._rule, self._cost, self._requires = (), None, _FREE, True

    @classmethod
    def _const(cls, value: float):
        node = cls.__new__(cls)
        node.value, node.grad, node.name, node.op = value, 0.0, None, None
        node._parents, node._rule, node._cost, node._requires = (), None, _FREE, False
        return node

    @classmethod
    def _node(cls, value: float, op: str, parents: tuple, cost: tuple, rule):
        """A new node. rule(A, y, i) returns ∂y/∂parents[i]: a float, ONE, MINUS_ONE, or None for 0.

        One rule function per operation (not a closure per node): large graphs stay small and quick to build.
        """
        node = cls.__new__(cls)
        node.value, node.grad, node.name, node.op = value, 0.0, None, op
        node._parents, node._rule, node._cost = parents, rule, cost
        requires = False
        for p in parents:
            requires = requires or p._requires
        node._requires = requires
        return node

    @property
    def is_constant(self) -> bool:
        """True for nodes that depend on no input (Python numbers lifted into the graph)."""
        return not self._requires

    def __repr__(self):
        label = f"{self.name!r}, " if self.name else (f"op={self.op!r}, " if self.op else "")
        return f"Var({label}value={self.value:.6g}, grad={self.grad:.6g})"

    # ---- binary operators: the forward value, then the rule for the local derivatives ∂y/∂a, ∂y/∂b -------
    # In a rule, A counts the arithmetic, y is the node, i the input: 0 for a, 1 for b.
    def __add__(self, other):
        b = _lift(other)
        if b is NotImplemented:
            return b
        return Var._node(self.value + b.value, "+", (self, b), _ADD, Var._d_add)

    @staticmethod
    def _d_add(A, y, i):
        """∂(a + b)/∂a = ∂(a + b)/∂b = 1."""
        return ONE

    def __radd__(self, other):
        a = _lift(other)
        return a if a is NotImplemented else a.__add__(self)

    def __sub__(self, other):
        b = _lift(other)
        if b is NotImplemented:
            return b
        return Var._node(self.value - b.value, "-", (self, b), _ADD, Var._d_sub)

    @staticmethod
    def _d_sub(A, y, i):
        """∂(a − b)/∂a = 1, ∂(a − b)/∂b = −1."""
        return ONE if i == 0 else MINUS_ONE

    def __rsub__(self, other):
        a = _lift(other)
        return a if a is NotImplemented else a.__sub__(self)

    def __mul__(self, other):
        b = _lift(other)
        if b is NotImplemented:
            return b
        return Var._node(self.value * b.value, "*", (self, b), _MUL, Var._d_mul)

    @staticmethod
    def _d_mul(A, y, i):
        """∂(ab)/∂a = b, ∂(ab)/∂b = a: the other factor's value."""
        return A.value(y._parents[1 - i])

    def __rmul__(self, other):
        a = _lift(other)
        return a if a is NotImplemented else a.__mul__(self)

    def __truediv__(self, other):
        b = _lift(other)
        if b is NotImplemented:
            return b
        if b.value == 0.0:
            raise ZeroDivisionError(f"Var division by zero ({self.value!r} / 0)")
        return Var._node(self.value / b.value, "/", (self, b), _DIV, Var._d_div)

    @staticmethod
    def _d_div(A, y, i):
        """∂(a/b)/∂a = 1/b, ∂(a/b)/∂b = −a/b² = −y/b."""
        b = y._parents[1]
        if i == 0:
            return A.div(ONE, A.value(b))
        return A.neg(A.div(A.value(y), A.value(b)))

    def __rtruediv__(self, other):
        a = _lift(other)
        return a if a is NotImplemented else a.__truediv__(self)

    def __pow__(self, other, modulo=None):
        a, b = self, _lift(other)
        if b is NotImplemented or modulo is not None:
            return NotImplemented
        square = b.is_constant and b.value == 2.0
        value = a.value * a.value if square else _pow(a.value, b.value)
        return Var._node(value, "**", (a, b), _MUL if square else _FUNC, Var._d_pow)

    @staticmethod
    def _d_pow(A, y, i):
        """∂(a^b)/∂a = b a^(b−1), ∂(a^b)/∂b = a^b log a."""
        a, b = y._parents
        if i == 0:
            if b.is_constant:  # arithmetic on the constant exponent alone is free
                k = b.value
                if k == 0.0:
                    return None
                if k == 1.0:
                    return ONE
                if k == 2.0:
                    return A.mul(k, A.value(a))
                return A.mul(k, A.func(_pow, A.value(a), k - 1.0))
            return A.mul(A.value(b), A.func(_pow, A.value(a), A.sub(A.value(b), ONE)))
        if a.is_constant:
            if a.value <= 0:
                raise ValueError(f"d({a.value!r} ** b)/db is not a real number for a base <= 0")
            return A.mul(A.value(y), math.log(a.value))  # log of a constant: free
        base = A.value(a)
        if base <= 0:
            if base == 0.0 and y.value == 0.0:
                return None  # 0^b = 0 for every b > 0 near b: the derivative is 0
            raise ValueError(f"d(a ** b)/db is not a real number for a base <= 0 (a = {base!r})")
        return A.mul(A.value(y), A.func(math.log, base))

    def __rpow__(self, other):
        a = _lift(other)
        return a if a is NotImplemented else a.__pow__(self)

    def __neg__(self):
        return self.neg()

    def __pos__(self):
        return self

    # ---- unary functions: the forward value, then the rule for the local derivative ∂y/∂u ----------------
    def neg(self):
        """−u."""
        return Var._node(-self.value, "neg", (self,), _ADD, Var._d_neg)

    @staticmethod
    def _d_neg(A, y, i):
        """∂(−u)/∂u = −1."""
        return MINUS_ONE

    def log(self):
        """log u, for u > 0."""
        if not self.value > 0:
            raise ValueError(f"log of a non-positive value ({self.value!r})")
        return Var._node(math.log(self.value), "log", (self,), _FUNC, Var._d_log)

    @staticmethod
    def _d_log(A, y, i):
        """∂ log u/∂u = 1/u."""
        return A.div(ONE, A.value(y._parents[0]))

    def exp(self):
        """e^u."""
        try:
            value = math.exp(self.value)
        except OverflowError:
            raise OverflowError(f"exp({self.value!r}) overflows a float") from None
        return Var._node(value, "exp", (self,), _FUNC, Var._d_exp)

    @staticmethod
    def _d_exp(A, y, i):
        """∂e^u/∂u = e^u: the node's own value."""
        return A.value(y)

    def tanh(self):
        """tanh u."""
        return Var._node(math.tanh(self.value), "tanh", (self,), _FUNC, Var._d_tanh)

    @staticmethod
    def _d_tanh(A, y, i):
        """∂ tanh u/∂u = 1 − h², from the node's value h."""
        h = A.value(y)
        return A.sub(ONE, A.mul(h, h))

    def sigmoid(self):
        """1 / (1 + e^−u)."""
        return Var._node(_sigmoid(self.value), "sigmoid", (self,), _FUNC, Var._d_sigmoid)

    @staticmethod
    def _d_sigmoid(A, y, i):
        """∂σ(u)/∂u = h (1 − h), from the node's value h."""
        h = A.value(y)
        return A.mul(h, A.sub(ONE, h))

    def relu(self):
        """max(u, 0)."""
        return Var._node(self.value if self.value > 0 else 0.0, "relu", (self,), _FREE, Var._d_relu)

    @staticmethod
    def _d_relu(A, y, i):
        """∂ relu(u)/∂u = 1 for u > 0, else 0 (0 at u = 0, as in the backends): a selection, no arithmetic."""
        return ONE if A.value(y._parents[0]) > 0 else None

    def softplus(self):
        """log(1 + e^u)."""
        return Var._node(_softplus(self.value), "softplus", (self,), _FUNC, Var._d_softplus)

    @staticmethod
    def _d_softplus(A, y, i):
        """∂ softplus(u)/∂u = sigmoid(u)."""
        return A.func(_sigmoid, A.value(y._parents[0]))

    # ---- differentiation -------------------------------------------------------------------------------
    def backward(self, accumulate=False) -> OpCount:
        """Reverse mode: ∂(self)/∂v into v.grad for every node v of this graph; returns the arithmetic done.

        One sweep over the nodes in reverse topological order: a node's adjoint is complete (all its uses
        summed) before it is passed on to its inputs, so each ∂self/∂v is computed once. The adjoints live
        in the sweep, not in .grad, so earlier .grad values never leak in: with accumulate=False (default)
        each node's .grad is overwritten (calling backward twice gives the same grads; after y1.backward()
        then y2.backward() on graphs sharing nodes, shared nodes hold ∂y2/∂v and nodes only in y1's graph
        keep ∂y1/∂v). With accumulate=True the results are added to .grad (two calls on y1, y2 then hold
        ∂(y1 + y2)/∂v). Constant nodes get grad 0.
        """
        order = _topological(self)
        A = _Arith()
        adjoint = {id(self): ONE}
        for node in reversed(order):
            g = adjoint.get(id(node))
            if g is None:
                continue
            for i, parent in enumerate(node._parents):
                if not parent._requires:
                    continue
                d = node._rule(A, node, i)
                if d is None:
                    continue
                contribution = A.mul(g, d)
                previous = adjoint.get(id(parent))
                adjoint[id(parent)] = contribution if previous is None else A.add(previous, contribution)
        for node in order:
            g = adjoint.get(id(node))
            value = 0.0 if g is None or (not node._requires and node is not self) else float(g)
            node.grad = node.grad + value if accumulate else value
        return A.ops

    def to_dot(self, name="graph") -> str:
        """This node's graph as Graphviz DOT text: one box per node with its value and grad, edges input → use."""
        order = _topological(self)
        index = {id(node): i for i, node in enumerate(order)}
        lines = [f"digraph {_dot_id(name)} {{", "  rankdir=LR;", '  node [shape=box, fontname="monospace"];']
        for i, node in enumerate(order):
            if node.op is None:
                head = node.name or ("const" if node.is_constant else "input")
            else:
                head = node.op if node.name is None else f"{node.name} = {node.op}"
            label = f"{_dot_escape(head)}\\nvalue = {node.value:.6g}\\ngrad = {node.grad:.6g}"
            style = ", style=dashed" if node.is_constant else ""
            lines.append(f'  n{i} [label="{label}"{style}];')
        for node in order:
            for parent in node._parents:
                lines.append(f"  n{index[id(parent)]} -> n{index[id(node)]};")
        lines.append("}")
        return "\n".join(lines) + "\n"


def _dot_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _dot_id(name) -> str:
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, got {type(name).__name__}")
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _topological(root: Var) -> list:
    """Every node root depends on, inputs before the nodes that use them (root last).

    Iterative depth-first search: graphs deeper than Python's recursion limit are fine. A node is
    expanded (its inputs pushed) on its first visit and emitted when it is met again on top of the stack,
    by which time everything pushed above it - its inputs - has been emitted.
    """
    order, expanded, emitted = [], set(), set()
    stack = [root]
    while stack:
        node = stack[-1]
        key = id(node)
        if key in expanded:
            stack.pop()
            if key not in emitted:
                emitted.add(key)
                order.append(node)
            continue
        expanded.add(key)
        for parent in node._parents:
            if id(parent) not in expanded:
                stack.append(parent)
    return order


# ---- module functions -----------------------------------------------------------------------------------

def _unary(method):
    def fn(x):
        v = _lift(x)
        if v is NotImplemented:
            raise TypeError(f"{method}() needs a Var or a real number, got {type(x).__name__}")
        return getattr(v, method)()
    fn.__name__ = method
    fn.__doc__ = f"{method}(x) for a Var or a number (a number gives a constant node); see Var.{method}."
    return fn


neg, log, exp, tanh, sigmoid, relu, softplus = (
    _unary(m) for m in ("neg", "log", "exp", "tanh", "sigmoid", "relu", "softplus"))


# ---- whole-function drivers ------------------------------------------------------------------------------

class ADResult(NamedTuple):
    """value: f(inputs); grad: (n_inputs,) float64 array of ∂f/∂input; ops: the arithmetic counted."""

    value: float
    grad: np.ndarray
    ops: OpCount


def _inputs(inputs) -> list:
    if isinstance(inputs, np.ndarray):
        values = inputs.ravel().tolist()
    elif isinstance(inputs, (list, tuple)):
        values = list(inputs)
    else:
        raise TypeError(f"inputs must be a list, tuple or 1-D array of numbers, got {type(inputs).__name__}")
    out = []
    for i, v in enumerate(values):
        if isinstance(v, Var):
            raise TypeError(f"inputs[{i}] is a Var: pass the numbers, the function builds the graph")
        try:
            out.append(Var(v, name=f"x{i + 1}"))
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"inputs[{i}]: {exc}") from None
    return out


def _record(f, xs):
    if not callable(f):
        raise TypeError(f"f must be callable, got {type(f).__name__}")
    y = f(*xs)
    if isinstance(y, Var):
        return y
    if isinstance(y, numbers.Real) and not isinstance(y, bool):
        return Var._const(float(y))  # f ignores its inputs: a constant
    raise TypeError(f"f must return a Var or a real number, got {type(y).__name__}")


def forward_mode(f, inputs) -> ADResult:
    """Forward mode: (f(x), ∇f(x), ops) with one tangent pass per input.

    f is called once as f(*vars) with one Var per number in `inputs` to record its graph; then, for each
    input i, tangents u̇ = ∂u/∂x_i are pushed through the graph in topological order with the seed ẋ_i = 1
    (ẏ = Σ_u (∂y/∂u) u̇). Passes share no work (see the module docstring for what `ops` counts).
    """
    xs = _inputs(inputs)
    y = _record(f, xs)
    order = [node for node in _topological(y) if node._parents]
    grad = np.zeros(len(xs))
    ops = OpCount()
    for k, x in enumerate(xs):
        A = _Arith()  # a fresh pass: node values are recomputed, as a separate dual-number evaluation would
        tangent = {id(x): ONE}
        for node in order:
            acc = None
            for i, parent in enumerate(node._parents):
                t = tangent.get(id(parent))
                if t is None:
                    continue
                d = node._rule(A, node, i)
                if d is None:
                    continue
                contribution = A.mul(d, t)
                acc = contribution if acc is None else A.add(acc, contribution)
            if acc is not None:
                tangent[id(node)] = acc
        t = tangent.get(id(y))
        grad[k] = 0.0 if t is None else float(t)
        ops = ops + A.ops
    return ADResult(y.value, grad, ops)


def reverse_mode(f, inputs) -> ADResult:
    """Reverse mode: (f(x), ∇f(x), ops) from one recording of f's graph and one backward sweep."""
    xs = _inputs(inputs)
    y = _record(f, xs)
    ops = y.backward()
    return ADResult(y.value, np.array([x.grad for x in xs], dtype=np.float64), ops)


def evaluation_ops(y: Var) -> OpCount:
    """The arithmetic of evaluating y's graph once from its inputs, every node once (the cost of f)."""
    if not isinstance(y, Var):
        raise TypeError(f"evaluation_ops needs a Var, got {type(y).__name__}")
    A = _Arith()
    A.value(y)
    return A.ops
