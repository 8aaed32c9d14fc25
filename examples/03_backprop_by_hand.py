"""Lecture step 3: computation graphs and backpropagation, the worked examples, with fastmlp.autodiff.

  1. f(x, y, z) = log((x + y)² + z) at (2, 1, 1): f = log 10, ∂f/∂x = ∂f/∂y = 0.6, ∂f/∂z = 0.1.
  2. y = (x1 + x2)(x3 + x4): forward mode needs 4 additions for the gradient, reverse mode 2.
  3. With more inputs forward mode's work grows with their number, reverse mode's does not.

    python examples/03_backprop_by_hand.py   (with fastmlp installed, or PYTHONPATH=.)
"""
import math

from fastmlp.autodiff import Var, evaluation_ops, forward_mode, log, reverse_mode

print("1. f(x, y, z) = log((x + y)^2 + z) at (2, 1, 1)")
x, y, z = Var(2.0, "x"), Var(1.0, "y"), Var(1.0, "z")
f = log((x + y) ** 2 + z)
f.backward()
print(f"   f = {f.value:.6f} (log 10 = {math.log(10):.6f})")
print(f"   reverse mode: df/dx = {x.grad:.4f}, df/dy = {y.grad:.4f}, df/dz = {z.grad:.4f}")
fwd = forward_mode(lambda x, y, z: log((x + y) ** 2 + z), [2.0, 1.0, 1.0])
print(f"   forward mode: gradient {[round(float(g), 4) for g in fwd.grad]}")
print("   the graph in Graphviz DOT (paste into `dot -Tpng`):")
print("   " + f.to_dot().replace("\n", "\n   ").rstrip())


def product_of_sums(*xs):
    k = len(xs) // 2
    return sum(xs[1:k], xs[0]) * sum(xs[k + 1:], xs[k])


print("2. y = (x1 + x2)(x3 + x4) at (1, 2, 3, 4)")
fwd = forward_mode(product_of_sums, [1.0, 2.0, 3.0, 4.0])
rev = reverse_mode(product_of_sums, [1.0, 2.0, 3.0, 4.0])
print(f"   gradient {rev.grad.tolist()} (forward mode: {fwd.grad.tolist()})")
print(f"   forward mode (one pass per input): {fwd.ops}")
print(f"   reverse mode (one backward sweep): {rev.ops}")
print(f"   additions for the derivative: forward {fwd.ops.add}, reverse {rev.ops.add}")
assert (fwd.ops.add, rev.ops.add) == (4, 2)

print("3. (x1 + ... + xk)(xk+1 + ... + x2k): arithmetic for the whole gradient")
print(f"   {'inputs':>6} {'f itself':>9} {'forward':>8} {'reverse':>8}")
for k in (2, 4, 8, 16, 32):
    xs = [float(i) for i in range(1, 2 * k + 1)]
    cost = evaluation_ops(product_of_sums(*[Var(v) for v in xs])).total
    print(f"   {2 * k:>6} {cost:>9} {forward_mode(product_of_sums, xs).ops.total:>8} "
          f"{reverse_mode(product_of_sums, xs).ops.total:>8}")
print("   forward mode grows like inputs x cost of f; reverse mode stays within the cost of f")
