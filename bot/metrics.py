"""Prometheus metrics of bb-ops (served at GET /metrics by `bb-ops serve`).

Label values are fixed vocabularies (verb, env, outcome), never free text, so nothing secret
can reach a label.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

COMMANDS = Counter("bbops_commands_total", "Slash commands received, by verb and how they were answered",
                   ["verb", "answer"])
ACK_SECONDS = Histogram("bbops_ack_seconds", "Time from request to ack on the command path",
                        buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5))
RUNS = Counter("bbops_runs_total", "Runs that reached a final state", ["verb", "env", "status"])
RUN_SECONDS = Histogram("bbops_run_seconds", "Run duration from start to final state", ["verb"],
                        buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600))
REFUSED = Counter("bbops_refused_total", "Commands and clicks refused", ["reason"])
DUPLICATES = Counter("bbops_duplicate_deliveries_total", "Slack redeliveries acked without a new run")
REQUEUED = Counter("bbops_runs_requeued_total", "Runs enqueued again from the bot database (outbox)")
ABANDONED = Counter("bbops_runs_abandoned_total", "Runs whose worker died", ["verb"])
RETRIED = Counter("bbops_runs_retried_total", "Read-only runs retried after their worker died", ["verb"])
SLACK_RETRIES = Counter("bbops_slack_retries_total", "Slack Web API calls retried", ["reason"])
QUEUE_DEPTH = Gauge("bbops_queue_depth", "Jobs waiting in the RQ queues", ["queue"])
LOCK_AGE = Gauge("bbops_lock_age_seconds", "Age of each environment's lock (0 when free)", ["env"])
