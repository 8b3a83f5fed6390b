"""Provisioning of jobpulse's Grafana side (datasources, dashboards, alert rules, contact points, policy)."""

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
