{{- define "cudaswitch.name" -}}{{ .Release.Name | trunc 40 | trimSuffix "-" }}{{- end -}}
{{- define "cudaswitch.webhook" -}}{{ include "cudaswitch.name" . }}-webhook{{- end -}}
{{- define "cudaswitch.operator" -}}{{ include "cudaswitch.name" . }}-operator{{- end -}}
{{- define "cudaswitch.tlsSecret" -}}
{{- if .Values.certificates.certManager.enabled -}}{{ include "cudaswitch.webhook" . }}-tls
{{- else -}}{{ required "certificates.existingSecret is required when cert-manager is off" .Values.certificates.existingSecret }}
{{- end -}}
{{- end -}}
{{- define "cudaswitch.labels" -}}
app.kubernetes.io/name: cudaswitch
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}
{{- define "cudaswitch.image" -}}{{ .Values.image.repository }}:{{ .Values.image.tag }}{{- end -}}
{{- define "cudaswitch.podSecurity" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
seccompProfile:
  type: RuntimeDefault
{{- end -}}
{{- define "cudaswitch.containerSecurity" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: ["ALL"]
{{- end -}}
{{- define "cudaswitch.clientConfig" -}}
{{- $root := .root -}}
service:
  name: {{ include "cudaswitch.webhook" $root }}
  namespace: {{ $root.Release.Namespace }}
  port: 443
  path: {{ .path }}
{{- if and (not $root.Values.certificates.certManager.enabled) $root.Values.certificates.caBundle }}
caBundle: {{ $root.Values.certificates.caBundle }}
{{- end }}
{{- end -}}
