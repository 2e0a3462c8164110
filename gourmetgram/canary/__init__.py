"""The canary analysis, one implementation for both targets.

plan.py     the plan from the platform values (steps, interval, checks in Argo Rollouts' terms)
signals.py  the measurements: the recording rules' expressions run over one interval through
            Prometheus' HTTP API
decide.py   the checks and verdicts as pure functions (Jensen-Shannon divergence, limits)
rollout.py  the step loop: move the gateway, wait, measure, decide; promote / abort / pause
record.py   every verdict printed and stored on the MLflow model version (tags + JSON artifact)
load.py     a bounded load generator on 127.0.0.1 for lab mode
gateways.py how weights move: Traefik's file provider locally, the Argo CD app on the cluster
"""
