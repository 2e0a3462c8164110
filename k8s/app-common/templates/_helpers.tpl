{{/* Namespace of this environment: gourmetgram-<environment> (as Argo CD's destination). */}}
{{- define "gg.namespace" -}}
gourmetgram-{{ .Values.environment }}
{{- end -}}

{{/* Labels that select the app's pods; never change them (Deployment selectors are immutable). */}}
{{- define "gg.selectorLabels" -}}
app.kubernetes.io/name: {{ .Values.service.name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "gg.labels" -}}
{{ include "gg.selectorLabels" . }}
app.kubernetes.io/part-of: gourmetgram
app.kubernetes.io/component: app
app.kubernetes.io/version: {{ .Values.image.tag | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
gourmetgram.io/environment: {{ .Values.environment }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* The image, refusing a tag that belongs to another environment (e.g. canary-1.0.3 in staging). */}}
{{- define "gg.image" -}}
{{- $prefix := printf "%s-" .Values.environment -}}
{{- if not (hasPrefix $prefix .Values.image.tag) -}}
{{- fail (printf "image.tag %q does not belong to environment %q: expected %s1.0.<N>" .Values.image.tag .Values.environment $prefix) -}}
{{- end -}}
{{ .Values.image.repository }}:{{ .Values.image.tag }}
{{- end -}}
