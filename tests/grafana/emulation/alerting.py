"""Test helper: evaluates a provisioned alert rule the way Grafana's alerting engine does.

Written from Grafana's documentation of alert rule evaluation and server-side expressions:
* the SQL query (refId A) is run through the MySQL datasource: each row of a table result becomes one
  series/instance; string columns become labels, and exactly one numeric column is the value (more than
  one numeric column is an error);
* no rows -> NoData, handled by the rule's noDataState (OK -> no instance, Alerting -> one firing
  instance with the rule's labels only);
* Reduce (B) of a number is the number itself (mode dropNN drops NULL values);
* Threshold (C) "gt" p -> 1 when value > p, else 0; an instance fires when the condition is non-zero;
* a query error is handled by execErrState (Error -> Grafana's DatasourceError alert, without the job
  labels; Alerting -> the rule fires with its own labels);
* every instance also carries the rule's own labels.
Only what jobpulse's rules use is implemented; anything else raises.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Callable

from jobpulse import semconv


@dataclass(frozen=True)
class Instance:
    labels: dict
    value: float | None
    firing: bool
    state_reason: str = ""  # "" | "NoData" | "Error"


def _series(columns: list[str], rows: list[tuple]) -> list[tuple[dict, float | None]]:
    out = []
    for row in rows:
        labels, numbers = {}, []
        for name, value in zip(columns, row):
            if isinstance(value, str):
                labels[name] = value
            elif isinstance(value, (int, float, Decimal)) or value is None:
                numbers.append(None if value is None else float(value))
            else:
                raise TypeError(f"column {name}: {type(value).__name__} is neither label nor value")
        if len(numbers) != 1:
            raise ValueError(f"a table for alerting needs exactly one numeric column, got {len(numbers)}")
        out.append((labels, numbers[0]))
    return out


def _condition(model: dict, value: float) -> bool:
    [cond] = model["conditions"]
    evaluator = cond["evaluator"]
    kind, params = evaluator["type"], evaluator["params"]
    if kind == "gt":
        return value > params[0]
    if kind == "lt":
        return value < params[0]
    raise NotImplementedError(kind)


def evaluate(rule: dict, run_sql: Callable[[str], tuple[list[str], list[tuple]]]) -> list[Instance]:
    """Instances of `rule` now. `run_sql(sql)` returns (column names, rows) as Grafana's datasource would."""
    queries = {q["refId"]: q for q in rule["data"]}
    rule_labels = dict(rule.get("labels") or {})
    [source] = [q for q in queries.values() if q["datasourceUid"] != "__expr__"]
    sql = source["model"]["rawSql"]  # the model reaches the datasource raw (rules_types.go: Model.Raw)
    try:
        columns, rows = run_sql(sql)
        series = _series(columns, rows)
    except Exception as exc:  # noqa: BLE001 - the engine turns any query failure into execErrState
        state = rule["execErrState"]
        if state == "OK":
            return []
        labels = dict(rule_labels, alertname="DatasourceError" if state == "Error" else rule["title"])
        return [Instance(labels, None, True, f"Error: {exc}")]
    if not series:
        state = rule["noDataState"]
        if state == "OK":
            return []
        labels = dict(rule_labels, alertname="DatasourceNoData" if state == "NoData" else rule["title"])
        return [Instance(labels, None, True, "NoData")]

    reduce_q = next(q for q in queries.values() if q["model"].get("type") == "reduce")
    threshold_q = queries[rule["condition"]]
    assert threshold_q["model"]["type"] == "threshold" and threshold_q["model"]["expression"] == reduce_q["refId"]
    assert reduce_q["model"]["expression"] == source["refId"]
    out = []
    for labels, value in series:
        if value is None and reduce_q["model"].get("settings", {}).get("mode") == "dropNN":
            continue
        firing = value is not None and _condition(threshold_q["model"], value)
        out.append(Instance(dict(labels, **rule_labels, alertname=rule["title"]), value, firing))
    return out


def firing_jobs(instances: list[Instance]) -> set[str]:
    return {i.labels.get(semconv.ALERT_LABEL_JOB_ID) for i in instances if i.firing}
