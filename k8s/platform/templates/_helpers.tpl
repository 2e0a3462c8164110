{{- define "gg.labels" -}}
app.kubernetes.io/name: {{ .component }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/part-of: gourmetgram
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version }}
{{- end -}}

{{- define "gg.selectorLabels" -}}
app.kubernetes.io/name: {{ .component }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- end -}}

{{/* Pod-level hardening shared by every pod of the platform. */}}
{{- define "gg.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.securityContext.runAsUser }}
runAsGroup: {{ .Values.securityContext.runAsUser }}
fsGroup: {{ .Values.securityContext.runAsUser }}
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "gg.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
privileged: false
capabilities:
  drop:
    - ALL
{{- end -}}

{{/* An image reference must carry an explicit tag other than latest. */}}
{{- define "gg.pinnedImage" -}}
{{- $ref := . -}}
{{- $last := last (splitList "/" $ref) -}}
{{- if or (not (contains ":" $last)) (hasSuffix ":latest" $ref) -}}
{{- fail (printf "image %q is not pinned: give an explicit tag (never latest)" $ref) -}}
{{- end -}}
{{ $ref }}
{{- end -}}
