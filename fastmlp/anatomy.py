"""The model's anatomy in the lecture's notation: layers, pre-/post-activations, augmented weights.

    h_0 = x,   z_{l+1} = W_l h_l + b_l,   h_{l+1} = g_l(z_{l+1}),   ŷ = h_{L+1}

for the net's weights W_0 .. W_L (W_l: (n_{l+1}, n_l)). In code a batch holds one sample per row, so
the same equations read Z = H Wᵀ + b.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import activations
from ._validation import as_dtype


def _check_net(net, what):
    from .model import MLP  # here, not at the top: model.py calls into this module

    if not isinstance(net, MLP):
        raise TypeError(f"{what} needs a fastmlp.MLP, got {type(net).__name__}")


def linear_collapse(net):
    """(W̃, b̃) with ŷ = W̃ x + b̃ for a network whose activations are all identity.

    W̃ = W_L ⋯ W_1 W_0: (n_out, n_in); b̃ = b_L + W_L b_{L−1} + W_L W_{L−1} b_{L−2} + ⋯: (n_out,).
    Computed in float64 whatever the net's dtype. ValueError, naming the layer, for any other activation:
    only then is a stack of linear layers one linear layer.
    """
    _check_net(net, "linear_collapse")
    names = net.activations
    for l, name in enumerate(names):
        if name != "identity":
            role = "the output layer" if l == len(names) - 1 else "hidden layer"
            raise ValueError(f"linear_collapse needs identity activations everywhere; layer {l} "
                             f"({role}, W_{l}) uses {name!r}, so the network is not linear")
    W_tot = np.eye(net.layer_sizes[0])
    b_tot = np.zeros(net.layer_sizes[0])
    for W, b in zip(net.weights, net.biases):
        W = W.astype(np.float64)
        # W_l (W̃ x + b̃) + b_l: the new layer applied to the collapsed network so far.
        W_tot, b_tot = W @ W_tot, W @ b_tot + b.astype(np.float64)
    return W_tot, b_tot


@dataclass(frozen=True)
class ForwardTrace:
    """Every intermediate value of one forward pass, indexed as in the lecture.

    h[0] = x: (batch, n_0); for l = 1 .. L+1: z[l] = h[l−1] W_{l−1}ᵀ + b_{l−1} and h[l] = g(z[l]), both
    (batch, n_l); z[0] is None (the input has no pre-activation). activations[l] names g of h[l] (l ≥ 1;
    activations[0] is None). h[-1] is the net's prediction.
    """

    z: list
    h: list
    activations: list

    @property
    def n_layers(self) -> int:
        """L + 1: the number of weight matrices the trace went through."""
        return len(self.h) - 1

    def __repr__(self):
        def stats(a):
            return f"{str(a.shape):<12} in [{a.min():.4g}, {a.max():.4g}]"

        lines = [f"ForwardTrace(batch={self.h[0].shape[0]}, {self.n_layers} layers)",
                 f"  h[0] = x{'':<23}{stats(self.h[0])}"]
        for l in range(1, len(self.h)):
            lines.append(f"  z[{l}] = W_{l - 1} h[{l - 1}] + b_{l - 1}{'':<10}{stats(self.z[l])}")
            g = f"{self.activations[l]}(z[{l}])"
            lines.append(f"  h[{l}] = {g:<24}{stats(self.h[l])}")
        return "\n".join(lines)


def forward_trace(net, X) -> ForwardTrace:
    """The forward pass of `net` on X: (batch, n_in), layer by layer, in the net's dtype.

    Uses the reference definitions (fastmlp.activations), so it checks any backend's predict.
    """
    _check_net(net, "forward_trace")
    X = net._x(X)  # same validation and dtype as predict
    z, h, names = [None], [X.copy()], [None]
    for W, b, act, name in zip(net.weights, net.biases, net._acts, net.activations):
        z.append(h[-1] @ W.T + b)
        h.append(activations.apply(int(act), z[-1]))
        names.append(name)
    return ForwardTrace(z=z, h=h, activations=names)


def augmented_weights(net) -> list:
    """[W̄_l]: each W̄_l = [W_l | b_l] of shape (n_{l+1}, n_l + 1), so z = W̄ [h; 1]. New arrays (copies)."""
    _check_net(net, "augmented_weights")
    return [np.hstack([W, b[:, None]]) for W, b in zip(net.weights, net.biases)]


def from_augmented_weights(cls, mats, activation="tanh", output_activation=None, **kw):
    """A `cls` (an MLP class) whose layer l is [W_l | b_l] = mats[l]: (n_{l+1}, n_l + 1).

    Layer sizes follow from the shapes, which must chain: mats[l+1] has mats[l].shape[0] + 1 columns.
    dtype defaults to the matrices' own when it is float32 or float64, float64 otherwise.
    output_activation=None is the constructor's default (the one the loss implies). Other keyword
    arguments go to the constructor (loss=, backend=, ...).
    """
    if isinstance(mats, np.ndarray) or not hasattr(mats, "__len__"):
        raise TypeError("mats must be a list of 2-D arrays [W_l | b_l], one per layer")
    if len(mats) == 0:
        raise ValueError("mats is empty: a network needs at least one layer")
    arrays = []
    for l, M in enumerate(mats):
        A = np.asarray(M)
        if A.dtype.kind not in "fiu":
            raise TypeError(f"mats[{l}] must hold real numbers, got dtype {A.dtype}")
        if A.ndim != 2:
            raise ValueError(f"mats[{l}] must be 2-D (n_out, n_in + 1), got shape {A.shape}")
        if A.shape[0] < 1 or A.shape[1] < 2:
            raise ValueError(f"mats[{l}] has shape {A.shape}: it needs at least one row and, besides the "
                             f"bias column, at least one input column")
        if l > 0 and A.shape[1] != arrays[-1].shape[0] + 1:
            raise ValueError(f"mats[{l}] has {A.shape[1]} columns but layer {l - 1} has {arrays[-1].shape[0]} "
                             f"outputs: it needs {arrays[-1].shape[0] + 1} (inputs + bias column)")
        if not np.isfinite(A).all():
            raise ValueError(f"mats[{l}] contains NaN or Inf")
        arrays.append(A)
    if "dtype" not in kw:
        common = np.result_type(*arrays)
        kw["dtype"] = common if common in (np.float32, np.float64) else np.float64
    as_dtype(kw["dtype"])  # a clear error before anything is built
    sizes = [arrays[0].shape[1] - 1] + [A.shape[0] for A in arrays]
    net = cls(sizes, activation=activation, output_activation=output_activation, **kw)
    theta = np.concatenate([np.concatenate([A[:, :-1].ravel(), A[:, -1]]) for A in arrays])
    net.params = theta
    return net
