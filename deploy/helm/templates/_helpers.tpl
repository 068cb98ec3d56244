{{- define "slumber.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "slumber.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "slumber.labels" -}}
{{ include "slumber.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "slumber.agentSelector" -}}
{{ include "slumber.selectorLabels" . }}
app.kubernetes.io/component: agent
{{- end -}}

{{/* The Secret holding the proxy's serving certificate when one is provided (or issued by cert-manager). */}}
{{- define "slumber.proxyTlsSecret" -}}
{{- if .Values.proxy.tls.secretName -}}
{{- .Values.proxy.tls.secretName -}}
{{- else if .Values.proxy.tls.certManager.enabled -}}
{{- default (printf "%s-proxy-tls" (include "slumber.fullname" .)) .Values.proxy.tls.certManager.secretName -}}
{{- end -}}
{{- end -}}
