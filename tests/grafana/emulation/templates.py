"""Grafana's alerting templates, rendered by Go's own text/template (the engine Grafana runs).

A small Go program (``gotemplate/main.go``, standard library only) is built once and fed JSON; this
module builds it, caches the binary and wraps it. Two kinds of template, as Grafana 11.x-12.x renders
them (sources: /tmp/grafana-research/queries-templates.md section 3, read from grafana/grafana,
grafana/alerting, grafana/prometheus-alertmanager and prometheus/prometheus):

* ``"rule"``: an alert rule's annotations and templated labels, expanded at every evaluation by
  grafana/grafana ``pkg/services/ngalert/state/template/template.go`` ``Expand()``: the template is
  named ``"__alert_" + name``; the prelude
  ``{{- $labels := .Labels -}}{{- $values := .Values -}}{{- $value := .Value -}}`` is prepended; it
  runs through Prometheus' ``template.NewTemplateExpander`` (prometheus/template/template.go; Grafana
  pins module v0.301 = Prometheus v3.1; the function set is the same from v2.45 to v3.5) with option
  ``missingkey=invalid`` plus Grafana's ``defaultFuncs`` (``state/template/funcs.go``: graphLink and
  tableLink overrides, filterLabels, filterLabelsRe, removeLabels, removeLabelsRe, mergeLabelValues);
  ``<no value>`` in the result becomes ``[no value]``. The data is ``template.Data``: ``.Labels`` are
  the query result's labels plus Grafana's own (alertname, grafana_folder, __alert_rule_uid__, ...)
  and NOT the rule's custom labels (``state/cache.go`` ``expandAnnotationsAndLabels``); ``.Values``
  maps a RefID to ``Value{Labels, Value float64}`` whose ``String()`` is
  ``strconv.FormatFloat(v, 'f', -1, 64)`` (NaN when the RefID has no value); ``.Value`` is the
  evaluation string. On error Grafana logs "Error in expanding template" and KEEPS THE RAW TEMPLATE
  TEXT for that annotation (:attr:`Rendered.stored`); the alert still fires and notifies.
  Every function name is registered; the bodies are our own, written to behave as Prometheus
  documents them (humanize, humanize1024, humanizeDuration: 75 -> ``1m 15s``, 0.5 -> ``500ms``,
  checked against Prometheus' published test cases; humanizePercentage, humanizeTimestamp, toTime,
  parseDuration, stripPort, stripDomain, match, reReplaceAll, title, toUpper, toLower, args,
  safeHtml) and Grafana's. ``query`` is a no-op (Grafana's queryFunc returns
  an empty vector), so first/label/value/strvalue/sortByLabel only ever see an empty result.
* ``"notification"``: a contact point setting (PagerDuty ``summary``, ``component``, ``class``, ...;
  grafana/alerting receivers/* template every such string) executed by grafana/alerting ``templates``
  through Alertmanager's ``Template.ExecuteTextString``: an unnamed template, ``missingkey=zero`` (a
  missing map key prints ""), Alertmanager's ``template.DefaultFuncs`` (toUpper, toLower, title,
  trimSpace, join, match, safeHtml, reReplaceAll, stringSlice; date and tz from Alertmanager #3812,
  present in the fork pinned by grafana/alerting v11.6.x-12.x, possibly absent in 11.0), on
  ``templates.ExtendedData`` (Receiver, Status, Alerts with .Firing/.Resolved, GroupLabels,
  CommonLabels, CommonAnnotations as KV with SortedPairs/Names/Values/Remove, ExternalURL, GroupKey).

Not emulated (a template using them fails here, never passes by accident): the predefined named
templates (``{{ template "default.title" . }}``, ``__subject``, ...), the 12.x-only notification
functions (``coll.*``, ``data.*``, ``tmpl.*``, ``time.Now``, tenantID, grafanaExploreURL, ...) and
the 12.x rule-template ``_prometheusMode``. Known differences: notification ``title`` approximates
``cases.Title`` (golang.org/x/text); Go type names in error texts read ``main.Value`` where Grafana's
read ``template.Value``; the Go release is the local toolchain's, not Grafana's.

Build: ``go build`` with GOTOOLCHAIN=local, GOPROXY=off, GOFLAGS=-mod=mod, GOWORK=off (nothing is
downloaded), GOCACHE and the binary under ``<repo>/.run/gotemplate/`` (JOBPULSE_RUN_DIR respected),
the binary named by a hash of the sources and the Go version, so a later session reuses it.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

SOURCE_DIR = Path(__file__).resolve().parent / "gotemplate"
SOURCES = ("main.go", "go.mod")
PRELUDE = "{{- $labels := .Labels -}}{{- $values := .Values -}}{{- $value := .Value -}}"
NO_VALUE = "[no value]"
DEFAULT_GO = "/usr/local/go/bin/go"


class EmulatorError(RuntimeError):
    """The Go program itself failed (bad request or data), not the template."""


@dataclass(frozen=True)
class Rendered:
    name: str
    text: str           # the template as written
    ok: bool
    output: str | None  # the rendered text when ok
    error: str | None   # Go's error text otherwise (Grafana's wording for kind "rule")

    @property
    def stored(self) -> str:
        """What Grafana keeps for a rule annotation/label: the output, or the raw text on error."""
        return self.output if self.ok else self.text


def go_binary() -> str:
    """The Go toolchain: $GO, else /usr/local/go/bin/go, else `go` on PATH."""
    for candidate in (os.environ.get("GO"), DEFAULT_GO, shutil.which("go")):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    raise FileNotFoundError("no Go toolchain (set $GO or install Go at /usr/local/go)")


def default_cache_dir() -> Path:
    configured = os.environ.get("JOBPULSE_RUN_DIR")
    root = Path(configured).resolve() if configured else Path(__file__).resolve().parents[3] / ".run"
    return root / "gotemplate"


def _go_env(cache_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        GOTOOLCHAIN="local", GOPROXY="off", GOFLAGS="-mod=mod", GOWORK="off", CGO_ENABLED="0",
        GOCACHE=str(cache_dir / "gocache"), GOMODCACHE=str(cache_dir / "gomodcache"),
        GOTELEMETRY="off",
    )
    return env


class GoTemplates:
    """Renders templates with the built program; one subprocess per render() call."""

    def __init__(self, binary: Path, external_url: str = "http://localhost:3000/"):
        self.binary = Path(binary)
        self.external_url = external_url

    def render(self, kind: str, items: Iterable[Mapping[str, Any]]) -> list[Rendered]:
        """Render items ``{"name", "text", "data"}`` of one kind ("rule" | "notification")."""
        if kind not in ("rule", "notification"):
            raise ValueError(f"kind must be 'rule' or 'notification', not {kind!r}")
        items = [{"name": str(i["name"]), "text": i["text"], "data": i.get("data") or {}} for i in items]
        request = json.dumps({"kind": kind, "external_url": self.external_url, "items": items},
                             allow_nan=False)
        proc = subprocess.run([str(self.binary)], input=request, capture_output=True, text=True,
                              timeout=60, check=False)
        if proc.returncode != 0:
            raise EmulatorError(f"gotemplate exited {proc.returncode}: {proc.stderr.strip()}")
        results = json.loads(proc.stdout)
        assert len(results) == len(items), (results, items)
        return [Rendered(r["name"], i["text"], r["ok"], r.get("output"), r.get("error"))
                for r, i in zip(results, items)]

    def render_one(self, kind: str, text: str, data: Mapping[str, Any] | None = None,
                   name: str = "template") -> Rendered:
        [result] = self.render(kind, [{"name": name, "text": text, "data": data or {}}])
        return result


def build(cache_dir: Path | None = None, go: str | None = None) -> GoTemplates:
    """Build gotemplate (or reuse the cached binary of the same sources and Go version)."""
    cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
    cache_dir.mkdir(parents=True, exist_ok=True)
    go = go or go_binary()
    env = _go_env(cache_dir)
    version = subprocess.run([go, "version"], capture_output=True, text=True, env=env, check=True,
                             timeout=60).stdout.strip()
    digest = hashlib.sha256(version.encode())
    for name in SOURCES:
        digest.update(name.encode() + b"\0" + (SOURCE_DIR / name).read_bytes() + b"\0")
    binary = cache_dir / "bin" / f"gotemplate-{digest.hexdigest()[:16]}"
    if not binary.is_file():
        binary.parent.mkdir(parents=True, exist_ok=True)
        # Build to a private name, then rename: concurrent sessions never see a half-written binary.
        fd, tmp = tempfile.mkstemp(prefix=".build-", dir=binary.parent)
        os.close(fd)
        try:
            proc = subprocess.run([go, "build", "-trimpath", "-o", tmp, "."], cwd=SOURCE_DIR, env=env,
                                  capture_output=True, text=True, timeout=600, check=False)
            if proc.returncode != 0:
                raise EmulatorError(f"go build failed ({version}):\n{proc.stderr}")
            os.replace(tmp, binary)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        # Binaries of older sources: dropped once they are a day old.
        for old in binary.parent.glob("gotemplate-*"):
            try:
                if old != binary and time.time() - old.stat().st_mtime > 86400:
                    old.unlink()
            except OSError:
                pass
    return GoTemplates(binary)


# --- data shaped like Grafana's ------------------------------------------------------------------

def _go_float(value: float) -> str:
    """Go's %v of a float64 (shortest representation)."""
    if math.isnan(value):
        return "NaN"
    if float(value).is_integer() and abs(value) < 1e21:
        return str(int(value))
    return repr(float(value))


def evaluation_string(values: Mapping[str, tuple[Mapping[str, str], float | None]]) -> str:
    """``$value``: eval's extractEvalString, ``[ var='B' labels={k=v, ...} value=75 ], ...``."""
    parts = []
    for ref_id, (labels, value) in values.items():
        label_text = ", ".join(f"{k}={labels[k]}" for k in sorted(labels))
        shown = "null" if value is None or math.isnan(value) else _go_float(value)
        parts.append(f"[ var='{ref_id}' labels={{{label_text}}} value={shown} ]")
    return ", ".join(parts)


def rule_data(labels: Mapping[str, str],
              values: Mapping[str, tuple[Mapping[str, str], float | None]]) -> dict:
    """``template.Data`` for one alert instance: ``values`` maps RefID -> (labels, number or None=NaN)."""
    return {
        "Labels": dict(labels),
        "Values": {ref: {"Labels": dict(lab), "Value": None if val is None or math.isnan(val) else val}
                   for ref, (lab, val) in values.items()},
        "Value": evaluation_string(values),
    }


def extended_data(*, receiver: str, alerts: list[dict], group_labels: Mapping[str, str],
                  status: str = "firing", external_url: str = "http://localhost:3000/") -> dict:
    """``templates.ExtendedData`` for one notification group (common labels/annotations computed
    as Alertmanager does: the pairs every alert of the group shares)."""

    def common(key: str) -> dict:
        if not alerts:
            return {}
        shared = dict(alerts[0].get(key) or {})
        for alert in alerts[1:]:
            other = alert.get(key) or {}
            shared = {k: v for k, v in shared.items() if other.get(k) == v}
        return shared

    return {
        "Receiver": receiver, "Status": status, "Alerts": alerts,
        "GroupLabels": dict(group_labels), "CommonLabels": common("Labels"),
        "CommonAnnotations": common("Annotations"), "ExternalURL": external_url,
        "GroupKey": "{}:" + "{" + ",".join(f'{k}="{v}"' for k, v in group_labels.items()) + "}",
    }
