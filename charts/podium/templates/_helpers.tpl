{{/* The chart's name (app.kubernetes.io/name). */}}
{{- define "podium.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The prefix of every object's name: the release name, with the chart name appended unless it is in it. */}}
{{- define "podium.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* Labels Helm adds to every object; the objects of config/ have none of them. */}}
{{- define "podium.helmLabels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}

{{/* Labels of every namespaced object and role. */}}
{{- define "podium.labels" -}}
app.kubernetes.io/name: {{ include "podium.name" . }}
{{ include "podium.helmLabels" . }}
{{- end }}

{{/* Labels of the RBAC objects. */}}
{{- define "podium.rbacLabels" -}}
{{ include "podium.labels" . }}
app.kubernetes.io/component: rbac
{{- end }}

{{/* What selects the operator's pods; the instance keeps two releases apart. */}}
{{- define "podium.selectorLabels" -}}
app.kubernetes.io/name: {{ include "podium.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
control-plane: controller-manager
{{- end }}

{{- define "podium.serviceAccountName" -}}
{{ include "podium.fullname" . }}
{{- end }}

{{/* The image reference: repository@digest, else repository:tag (tag default: appVersion). */}}
{{- define "podium.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* The rules of the operator's role in the namespaces it watches (config/rbac/role.yaml less Nodes). */}}
{{- define "podium.managerRules" -}}
- apiGroups: [""]
  resources: [pods]
  verbs: [get, list, watch, patch]
{{- if .nodes }}
# Node failure detection: only the Ready condition and taints are read.
- apiGroups: [""]
  resources: [nodes]
  verbs: [get, list, watch]
{{- end }}
- apiGroups: [coordination.k8s.io]
  resources: [leases]
  verbs: [get, list, watch, create, update, patch, delete]
- apiGroups: [podium.dev]
  resources: [electiongroups]
  verbs: [get, list, watch, update, patch]
- apiGroups: [podium.dev]
  resources: [electiongroups/status]
  verbs: [update, patch]
# Setting blockOwnerDeletion on the Leases a group owns needs this.
- apiGroups: [podium.dev]
  resources: [electiongroups/finalizers]
  verbs: [update]
- apiGroups: [events.k8s.io]
  resources: [events]
  verbs: [create, patch]
# Traffic routing: which Services route to a group's leader and what their
# EndpointSlices list (read). EndpointSlice mode (spec.service): podium's own
# selectorless Service and its one slice (create, patch, delete).
- apiGroups: [""]
  resources: [services]
  verbs: [get, list, watch, create, patch, delete]
- apiGroups: [discovery.k8s.io]
  resources: [endpointslices]
  verbs: [get, list, watch, create, patch, delete]
{{- end }}
