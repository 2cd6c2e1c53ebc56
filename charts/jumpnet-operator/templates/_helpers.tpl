{{/* Chart name, truncated to a DNS label. */}}
{{- define "jumpnet-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Object name prefix: release name + chart name, unless the release name already contains it. */}}
{{- define "jumpnet-operator.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "jumpnet-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of every object of the chart, without app.kubernetes.io/component. */}}
{{- define "jumpnet-operator.commonLabels" -}}
helm.sh/chart: {{ include "jumpnet-operator.chart" . }}
{{ include "jumpnet-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: jumpnet
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* Labels of the operator's own objects. */}}
{{- define "jumpnet-operator.labels" -}}
{{ include "jumpnet-operator.commonLabels" . }}
app.kubernetes.io/component: operator
{{- end }}

{{/* Labels that select the operator pods (never change them: Deployment selectors are immutable). */}}
{{- define "jumpnet-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "jumpnet-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "jumpnet-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "jumpnet-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The image reference: digest wins over tag; the tag defaults to the chart's appVersion. */}}
{{- define "jumpnet-operator.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* Namespaces the operator manages in `rbac.scope: namespace` mode, as a list. */}}
{{- define "jumpnet-operator.namespaces" -}}
{{- $ns := .Values.rbac.namespaces | default (list .Release.Namespace) }}
{{- toJson $ns }}
{{- end }}

{{- define "jumpnet-operator.clusterName" -}}
{{- default .Release.Name .Values.cluster.name }}
{{- end }}

{{/* The JumpnetCluster `helm test` talks to: test.clusterName, else the chart's own cluster. */}}
{{- define "jumpnet-operator.testCluster" -}}
{{- if .Values.test.clusterName }}
{{- .Values.test.clusterName }}
{{- else if .Values.cluster.enabled }}
{{- include "jumpnet-operator.clusterName" . }}
{{- end }}
{{- end }}

{{/* The operator's command-line arguments (after `jumpnet-operator`). */}}
{{- define "jumpnet-operator.args" -}}
- run
- --metrics-addr=0.0.0.0:{{ .Values.metrics.port }}
- --log-format={{ .Values.operator.logFormat }}
- --lease-name={{ include "jumpnet-operator.fullname" . }}
- --cluster-domain={{ .Values.operator.clusterDomain }}
{{- if eq .Values.rbac.scope "namespace" }}
- --namespaces={{ include "jumpnet-operator.namespaces" . | fromJsonArray | join "," }}
{{- end }}
{{- with .Values.operator.extraArgs }}
{{ toYaml . }}
{{- end }}
{{- end }}
