"""Every Redis key and queue name bb-ops uses, built in one place under the `bbops:` prefix."""

PREFIX = "bbops:"
#: RQ queues: read-only runs never wait behind a long migration
QUEUE_READ = "bbops-read"
QUEUE_CHANGE = "bbops-change"
QUEUES = (QUEUE_READ, QUEUE_CHANGE)


def lock(env: str) -> str:
    return f"{PREFIX}lock:{env}"


def job_id(run_id: int, phase: str = "run", attempt: int = 0) -> str:
    """One job per (run, phase, attempt): a retried run never reuses an abandoned job's id."""
    return f"bbops-{phase}-{run_id}-{attempt}"


def requeue_claim(job_id_: str) -> str:
    """Held for a few seconds by the one janitor that re-enqueues a lost job (several janitors run)."""
    return f"{PREFIX}requeue:{job_id_}"
