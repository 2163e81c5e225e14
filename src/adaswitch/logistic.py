"""Logistic regression: the sigmoid and one deterministic fitter (Newton's method, L2 penalty).

The hidden-state probe (:mod:`adaswitch.learning.probe`) and the confidence signal's weights
(:func:`adaswitch.introspection.fit_confidence`) are both fitted here.
"""

from __future__ import annotations

import numpy as np


def sigmoid(z: np.ndarray | float) -> np.ndarray:
    """1 / (1 + exp(-z)), without overflow for any finite ``z``; a 0-d array for a scalar."""
    return np.exp(-np.logaddexp(0.0, -np.asarray(z, dtype=np.float64)))


def fit_logistic(
    z: np.ndarray,
    y: np.ndarray,
    *,
    l2: float,
    weight: np.ndarray | None = None,
    max_iter: int = 100,
    tol: float = 1e-9,
) -> tuple[np.ndarray, float, int]:
    """Weights, bias and iterations of the logistic regression of the 0/1 labels ``y`` on the rows
    of ``z`` (standardise them first: the penalty treats every column alike).

    The objective is the ``weight``-ed summed log-loss plus ``l2 / 2 * |w|^2`` (the bias is not
    penalised); ``l2`` must be positive, which keeps the fit finite on separable data. With more
    columns than rows the fit runs in the span of the rows, which gives the same weights: an
    L2-penalised solution lies in that span.
    """
    z = np.asarray(z, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if not l2 > 0:
        raise ValueError("l2 must be positive")
    weight = np.ones(len(y)) if weight is None else np.asarray(weight, dtype=np.float64)
    basis = None
    if z.shape[1] > z.shape[0]:
        _, _, vt = np.linalg.svd(z, full_matrices=False)  # rows of vt span the rows of z
        basis = vt
        z = z @ vt.T
    theta, iterations = newton(z, y, weight, l2, max_iter, tol)
    weights = theta[:-1] if basis is None else basis.T @ theta[:-1]
    return weights, float(theta[-1]), iterations


def newton(z: np.ndarray, y: np.ndarray, c: np.ndarray, l2: float, max_iter: int, tol: float) -> tuple[np.ndarray, int]:
    """Minimise the ``c``-weighted log-loss plus the L2 penalty; theta is the weights, then the bias."""
    n, d = z.shape
    a = np.hstack([z, np.ones((n, 1))])
    penalty = np.full(d + 1, l2)
    penalty[-1] = 0.0

    def objective(theta: np.ndarray) -> float:
        m = a @ theta
        return float(np.sum(c * (np.logaddexp(0.0, m) - y * m)) + 0.5 * np.sum(penalty * theta**2))

    theta = np.zeros(d + 1)
    current = objective(theta)
    for iteration in range(1, max_iter + 1):
        p = sigmoid(a @ theta)
        gradient = a.T @ (c * (p - y)) + penalty * theta
        curvature = c * p * (1.0 - p)
        hessian = (a * curvature[:, None]).T @ a + np.diag(penalty + 1e-10)
        step = np.linalg.solve(hessian, gradient)
        t = 1.0
        while True:  # halve the step until the objective does not rise
            candidate = theta - t * step
            value = objective(candidate)
            if value <= current or t < 1e-10:
                break
            t /= 2
        theta, previous, current = candidate, current, value
        if previous - current <= tol * max(1.0, abs(current)):
            return theta, iteration
    return theta, max_iter
