"""Grafana's behaviour, emulated in one place (Grafana cannot run here: AGPL, in no registry we reach).

Each module follows Grafana's own code, named in its docstring with the versions checked (11.0-12.x,
read from grafana/grafana, grafana/alerting and grafana-plugin-sdk-go):

interpolation  environment interpolation of provisioning files, per file kind and field
               (provisioning/values/values.go interpolateValue; alerting/rules_types.go mapToModel)
provisioning   start-up from provisioning files: order, folder resolution, contact-point validation,
               provenance "file" (provisioning.go, rules_provisioner.go, dashboards/file_reader.go)
standin        the HTTP API: provenance rules, X-Disable-Provenance, stored-query normalisation,
               interval/title/folder validation (ngalert/api/api_provisioning.go, ngalert/provisioning,
               ngalert/models/alert_query.go)
macros         dashboard variables, InfluxQL macros, both MySQL macro engines (mysql/macros.go,
               sqlutil/macros.go)
alias          InfluxQL alias -> series name (influxql/util/util.go FormatFrameName)
alerting       rule evaluation of SQL + reduce + threshold, NoData/Error states
templates      rule and notification templates parsed and rendered by Go's own text/template with
               Grafana's prelude and function names (ngalert/state/template/template.go)
webhook        the webhook contact point's body (grafana/alerting templates/template_data.go)
"""
