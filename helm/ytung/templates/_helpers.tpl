{{/*
Named templates: every resource name and label set comes from here.
*/}}

{{- define "ytung.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "ytung.hub.fullname" -}}{{ include "ytung.fullname" . | trunc 59 }}-hub{{- end -}}
{{- define "ytung.proxy.fullname" -}}{{ include "ytung.fullname" . | trunc 57 }}-proxy{{- end -}}
{{- define "ytung.proxy.public.fullname" -}}{{ include "ytung.fullname" . | trunc 50 }}-proxy-public{{- end -}}
{{- define "ytung.proxy.api.fullname" -}}{{ include "ytung.fullname" . | trunc 53 }}-proxy-api{{- end -}}
{{- define "ytung.hub.config.fullname" -}}{{ include "ytung.fullname" . | trunc 52 }}-hub-config{{- end -}}
{{- define "ytung.hub.secret.fullname" -}}{{ include "ytung.fullname" . | trunc 52 }}-hub-secret{{- end -}}
{{- define "ytung.serviceAccount.name" -}}{{ include "ytung.fullname" . | trunc 59 }}-hub{{- end -}}
{{- define "ytung.data.claimName" -}}
{{- if .Values.storage.existingClaim -}}
{{- .Values.storage.existingClaim -}}
{{- else -}}
{{- include "ytung.fullname" . | trunc 58 }}-data
{{- end -}}
{{- end -}}

{{- define "ytung.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "ytung.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* the proxy's token: the value, else the one already in the cluster, else a new one */}}
{{- define "ytung.proxy.token" -}}
{{- if .Values.proxy.secretToken -}}
{{- .Values.proxy.secretToken -}}
{{- else -}}
{{- $existing := lookup "v1" "Secret" .Release.Namespace (include "ytung.hub.secret.fullname" .) -}}
{{- if and $existing (index $existing.data "proxy-token") -}}
{{- index $existing.data "proxy-token" | b64dec -}}
{{- else -}}
{{- randAlphaNum 64 -}}
{{- end -}}
{{- end -}}
{{- end -}}
