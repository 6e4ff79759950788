{{/* Labels of every object of this chart. */}}
{{- define "em2exm.labels" -}}
app.kubernetes.io/name: em2exm
app.kubernetes.io/part-of: em2exm
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | quote }}
{{- end }}
