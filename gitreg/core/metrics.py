"""Which way a metric improves, guessed from its name (used by ``diff`` and ``no_regression``).

Higher is better unless the name says it measures a cost: a name containing ``loss``,
``error``, ``mae``, ``mse`` (so also ``rmse``), ``mape`` or ``latency`` is lower-is-better
(``val_loss``, ``error_rate``, ``rmse``, ``latency_ms``). The rule is deliberately simple
and documented in the README, so that a team can name metrics to match it.
"""

from __future__ import annotations

LOWER_IS_BETTER = ("loss", "error", "mae", "mse", "mape", "latency")


def lower_is_better(metric: str) -> bool:
    name = metric.lower()
    return any(word in name for word in LOWER_IS_BETTER)


def is_worse(metric: str, new: float, old: float) -> bool:
    """Whether ``new`` is a regression from ``old`` for ``metric`` (equal is not)."""
    return new > old if lower_is_better(metric) else new < old
