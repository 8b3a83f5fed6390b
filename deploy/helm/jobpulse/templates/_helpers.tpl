{{- define "jobpulse.labels" -}}
app.kubernetes.io/name: jobpulse
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "jobpulse.selector" -}}
app.kubernetes.io/name: jobpulse
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* The hub's environment: plain settings, then the Secret's keys. */}}
{{- define "jobpulse.hubEnv" -}}
- name: JOBPULSE_HOST
  value: "0.0.0.0"
- name: JOBPULSE_PORT
  value: {{ .Values.hub.service.port | quote }}
- name: JOBPULSE_INFLUX_URL
  value: {{ .Values.influxdb.url | quote }}
- name: JOBPULSE_PUBLIC_READ
  value: {{ .Values.hub.publicRead | quote }}
{{- range $name, $value := .Values.hub.env }}
- name: {{ $name }}
  value: {{ $value | quote }}
{{- end }}
{{- end -}}

{{- define "jobpulse.securityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end -}}
