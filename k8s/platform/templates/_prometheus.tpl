{{/* Prometheus' own config; the Deployment's checksum hashes it, so a change restarts Prometheus
(the file is mounted with subPath, which never sees ConfigMap updates). */}}
{{- define "gg.prometheusConfig" -}}
global:
  scrape_interval: {{ .Values.prometheus.scrapeInterval }}
  evaluation_interval: {{ .Values.prometheus.scrapeInterval }}
rule_files:
  - /etc/prometheus/rules/canary-rules.yml
  - /etc/prometheus/rules/retrain-alerts.yml
# The retraining alerts go to the platform's Alertmanager (templates/alertmanager.yaml).
alerting:
  alertmanagers:
    - static_configs:
        - targets:
            - alertmanager.{{ .Values.namespace }}.svc:{{ .Values.alertmanager.port }}
scrape_configs:
  - job_name: gourmetgram-app
    kubernetes_sd_configs:
      - role: endpoints
        namespaces:
          names:
            {{- range $env := list "staging" "canary" "production" }}
            - gourmetgram-{{ $env }}
            {{- end }}
    relabel_configs:
      - source_labels: [__meta_kubernetes_service_name]
        regex: gourmetgram-app
        action: keep
      - source_labels: [__meta_kubernetes_namespace]
        target_label: namespace
  - job_name: traefik
    kubernetes_sd_configs:
      - role: pod
        namespaces:
          names:
            - {{ .Values.namespace }}
    relabel_configs:
      - source_labels: [__meta_kubernetes_pod_label_app_kubernetes_io_name, __meta_kubernetes_pod_container_port_name]
        regex: traefik;ping
        action: keep
{{- end }}
