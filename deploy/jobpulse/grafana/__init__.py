"""Provisioning of jobpulse's Grafana side (datasources, dashboards, alert rules, contact points, policy)."""

try:
    import grafana_client  # noqa: F401
    import yaml  # noqa: F401
except ImportError as _missing:
    raise ImportError(f"jobpulse.grafana needs its extra ({_missing.name} is missing): pip install 'jobpulse[grafana]'") from None

from ._apply import Change, Provisioner
from ._errors import FilesError, GrafanaAuthError, GrafanaError, GrafanaUnreachable, ProvisioningError
from ._files import Bundle, expand, expand_tree, load_bundle

__all__ = [
    "Bundle",
    "Change",
    "FilesError",
    "GrafanaAuthError",
    "GrafanaError",
    "GrafanaUnreachable",
    "Provisioner",
    "ProvisioningError",
    "expand",
    "expand_tree",
    "load_bundle",
]
