"""Prometheus metrics of bb-ops (served at GET /metrics by `bb-ops serve`).

Label values are fixed vocabularies (verb, env, status, reason), never free text, so nothing
secret can reach a label.

Two kinds:

* **In-process** counters of what `serve` itself does: commands, acks, refusals (grammar,
  channel, bad signature, oversized body, refused clicks), redeliveries.
* **Shared** figures that other processes change — the janitors in every worker, the work
  horses — read at scrape time from where they are true: lost / retried / abandoned / delayed
  runs and runs by status from the bot database (audit events and the runs table, so they
  survive restarts and count every process), Slack retries from a Redis hash every process
  increments, queue depth and lock age from Redis.
"""

from __future__ import annotations

import logging

from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

log = logging.getLogger("bbops.metrics")

COMMANDS = Counter("bbops_commands_total", "Slash commands received, by verb and how they were answered",
                   ["verb", "answer"])
ACK_SECONDS = Histogram("bbops_ack_seconds", "Time from request to ack on the command path",
                        buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5))
RUNS = Counter("bbops_runs_total", "Runs that reached a final state", ["verb", "env", "status"])
RUN_SECONDS = Histogram("bbops_run_seconds", "Run duration from start to final state", ["verb"],
                        buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600))
REFUSED = Counter("bbops_refused_total", "Requests, commands and clicks refused (signature, body_too_large, "
                  "grammar, channel, click_*)", ["reason"])
DUPLICATES = Counter("bbops_duplicate_deliveries_total", "Slack redeliveries acked without a new run")
QUEUE_DEPTH = Gauge("bbops_queue_depth", "Jobs waiting in the RQ queues", ["queue"])
LOCK_AGE = Gauge("bbops_lock_age_seconds", "Age of each environment's lock (0 when free)", ["env"])

#: audit event → (metric name, help) of the figures read from the bot database
AUDIT_COUNTERS = {
    "requeued": ("bbops_jobs_lost", "Runs whose job the queue lost or never took (Redis down at ack time, "
                                    "restarted without persistence), enqueued again from the bot database"),
    "delayed": ("bbops_runs_delayed", "Runs whose requester was told in the channel that the run is delayed"),
    "retried": ("bbops_runs_retried", "Read-only runs (and plans) retried after their worker died"),
    "abandoned": ("bbops_runs_abandoned", "Runs whose worker died or gave up mid-run: marked abandoned, lock freed"),
}

#: Redis hash of counters that every process increments (field "<name>:<label>")
SHARED_COUNTERS_KEY = "bbops:metrics"
_shared_redis = None


def share_counters_via(redis) -> None:
    """Let this process's shared counters (Slack retries) reach `serve`'s /metrics through Redis."""
    global _shared_redis
    _shared_redis = redis


def count_shared(name: str, label: str) -> None:
    """Increment a shared counter; never fails the caller (Redis may be the thing that is down)."""
    if _shared_redis is None:
        return
    try:
        _shared_redis.hincrby(SHARED_COUNTERS_KEY, f"{name}:{label}", 1)
    except Exception as exc:  # a metric is never worth failing a Slack post over
        log.debug("shared counter %s not counted: %s", name, type(exc).__name__)


class SharedCollector:
    """Figures that live in the bot database and Redis, read at each scrape of `serve`."""

    def __init__(self, rt) -> None:
        self.rt = rt

    def describe(self):
        """The metric names, without touching the database (called when the collector registers)."""
        for name, help_ in AUDIT_COUNTERS.values():
            yield CounterMetricFamily(name, help_, labels=["verb"])
        yield GaugeMetricFamily("bbops_runs_by_status", "Runs in the bot database by status", labels=["status"])
        yield CounterMetricFamily("bbops_slack_retries", "Slack Web API calls retried", labels=["reason"])

    def collect(self):
        from sqlalchemy import func, select

        from bot.infra.db.models import AuditEvent, Run

        families = {event: CounterMetricFamily(name, help_, labels=["verb"])
                    for event, (name, help_) in AUDIT_COUNTERS.items()}
        runs = GaugeMetricFamily("bbops_runs_by_status", "Runs in the bot database by status", labels=["status"])
        slack = CounterMetricFamily("bbops_slack_retries", "Slack Web API calls retried, by reason "
                                    "(all processes)", labels=["reason"])
        try:
            with self.rt.store.session() as s:
                q = (select(AuditEvent.event, Run.verb, func.count())
                     .select_from(AuditEvent).join(Run, Run.id == AuditEvent.run_id, isouter=True)
                     .where(AuditEvent.event.in_(list(AUDIT_COUNTERS)))
                     .group_by(AuditEvent.event, Run.verb))
                for event, verb, n in s.execute(q):
                    families[event].add_metric([verb or "-"], n)
                for status, n in s.execute(select(Run.status, func.count()).group_by(Run.status)):
                    runs.add_metric([status], n)
        except Exception as exc:  # a scrape never fails over the database
            log.warning("metrics: bot database unreadable: %s", type(exc).__name__)
        redis = _shared_redis
        if redis is not None:
            try:
                for field, value in (redis.hgetall(SHARED_COUNTERS_KEY) or {}).items():
                    field = field.decode() if isinstance(field, bytes) else field
                    name, _, label = field.partition(":")
                    if name == "slack_retries":
                        slack.add_metric([label], int(value))
            except Exception as exc:
                log.debug("metrics: redis unreadable: %s", type(exc).__name__)
        yield from families.values()
        yield runs
        yield slack
