{{- define "vireo.labels" -}}
app.kubernetes.io/name: vireo
app.kubernetes.io/component: controller
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version }}
{{- end -}}

{{- define "vireo.selector" -}}
app.kubernetes.io/name: vireo
app.kubernetes.io/component: controller
{{- end -}}
