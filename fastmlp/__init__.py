"""fastmlp: fast multi-layer perceptrons with a flat parameter vector θ and native kernels.

    net = fastmlp.MLP([2, 8, 8, 1], activation="tanh", seed=0)
    net.fit(X, Y, epochs=100, batch_size=32, lr=0.01)
"""
from .anatomy import ForwardTrace, linear_collapse
from .approx import relu_bumps
from .backends import available_backends
from .estimators import MLPClassifier, MLPRegressor
from .gradcheck import check_gradients
from .history import History
from .io import ModelFileError, load
from .model import MLP

__version__ = "0.1.0"
__all__ = ["MLP", "History", "available_backends", "check_gradients", "__version__",
           "ForwardTrace", "linear_collapse", "relu_bumps", "load", "ModelFileError",
           "MLPClassifier", "MLPRegressor"]
