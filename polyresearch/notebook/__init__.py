"""Notebook layer: background runner, live charts, controls and the composed dashboard.

``polyresearch.notebook.dashboard(feed)`` is the function (imported here eagerly, so that the
``dashboard`` submodule never shadows it); importing this package loads plotly and ipywidgets,
``import polyresearch`` alone does not.

Example:
    >>> import polyresearch.notebook as nb
    >>> nb.Runner.__name__, callable(nb.dashboard)
    ('Runner', True)
"""

from polyresearch.notebook.book_view import DepthChart
from polyresearch.notebook.charts import LiveChart, PriceChart, SpreadChart, downsample
from polyresearch.notebook.controls import ChartControls, StatusPanel, SubscriptionPicker
from polyresearch.notebook.dashboard import Dashboard, dashboard
from polyresearch.notebook.runner import Job, Runner, get_runner

__all__ = [
    "ChartControls",
    "Dashboard",
    "DepthChart",
    "Job",
    "LiveChart",
    "PriceChart",
    "Runner",
    "SpreadChart",
    "StatusPanel",
    "SubscriptionPicker",
    "dashboard",
    "downsample",
    "get_runner",
]
