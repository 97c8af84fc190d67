"""The worker side: RQ jobs that run the runbook's steps against an environment."""
