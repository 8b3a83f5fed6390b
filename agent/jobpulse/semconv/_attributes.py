"""Attribute keys (InfluxDB tag keys), field keys, alert labels and the other names of
the contract that are not metrics."""

from __future__ import annotations

SCOPE_NAME = "jobpulse.agent"

ATTR_JOB_ID = "job.id"
ATTR_JOB_TYPE = "job.type"
ATTR_MACHINE = "job.machine"
ATTR_DISK_INDEX = "disk.index"
ATTR_ERROR_MESSAGE = "error.message"

JOB_ATTRIBUTES = (ATTR_JOB_ID, ATTR_JOB_TYPE, ATTR_MACHINE)
# The resource attribute naming the agent process that sends (one per process unless set): the hub
# takes a job's figures from the first sender it saw, so a second one cannot move them.
ATTR_SERVICE_INSTANCE_ID = "service.instance.id"
DISK_ATTRIBUTES = JOB_ATTRIBUTES + (ATTR_DISK_INDEX,)

# Tags the collector's exporter adds on its own: the instrumentation scope.
TAG_SCOPE_NAME = "otel.library.name"
TAG_SCOPE_VERSION = "otel.library.version"

# The InfluxDB field the exporter (schema telegraf-prometheus-v1) writes a value to.
FIELD_COUNTER = "counter"
FIELD_GAUGE = "gauge"

# Longest error text carried as a tag; longer text is cut with an ellipsis.
ERROR_MESSAGE_MAX = 200

# The job id may come from the environment, as the earlier backup client did.
ENV_JOB_ID = "MIGRATEKIT_JOB_ID"
# The node's name where the host's own name is not the one it is known by (agent and node collector).
ENV_NODE_NAME = "JOBPULSE_NODE_NAME"

# Alert labels: the Grafana alert rules name a job's instance with these, and the hub's
# webhook reads them. Underscores, not the attributes' dots: Grafana's notification-policy
# matchers, group_by and silences (and any Prometheus Alertmanager downstream) reject or
# mishandle label names with dots.
ALERT_LABEL_RULE = "rule"
ALERT_LABEL_JOB_ID = "job_id"
ALERT_LABEL_JOB_TYPE = "job_type"
ALERT_LABEL_MACHINE = "job_machine"
ALERT_LABEL_NODE = "node"

# Values of the ``rule`` label: one per alert rule in alerts/rules.yaml.
RULE_JOB_STALLED = "job_stalled"
RULE_JOB_FAILED = "job_failed"
RULE_JOB_STUCK = "job_stuck"
RULE_PIPELINE_DOWN = "pipeline_down"
RULE_NODE_DOWN = "node_down"
# Early warnings: a running job that will end after its deadline, or runs far below its usual speed.
RULE_JOB_LATE = "job_late"
RULE_JOB_SLOW = "job_slow"
