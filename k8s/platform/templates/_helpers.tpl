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

{{/* Host headers MLflow accepts: its Service's in-cluster names, localhost (port-forward) and the
     floating IP when set, each with and without a port. Never "*". */}}
{{- define "gg.mlflowAllowedHosts" -}}
{{- $ns := .Values.namespace -}}
{{- $names := list "mlflow" (printf "mlflow.%s" $ns) (printf "mlflow.%s.svc" $ns) (printf "mlflow.%s.svc.cluster.local" $ns) "localhost" "127.0.0.1" -}}
{{- if .Values.mlflow.publicIP -}}
{{- $names = append $names .Values.mlflow.publicIP -}}
{{- end -}}
{{- $hosts := list -}}
{{- range $names -}}
{{- $hosts = append $hosts . -}}
{{- $hosts = append $hosts (printf "%s:*" .) -}}
{{- end -}}
{{- join "," $hosts -}}
{{- end -}}
