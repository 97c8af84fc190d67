"""Every tunable default of bb-ops in one place, each with its unit in its name (as rq's defaults.py).

Nothing here reads the environment: the variables that override some of these are read by
``Settings.from_env`` (bot/core/settings.py) when a process starts, and passed where used.
"""

# -- process settings (DESIGN.md, "Environment variables") ---------------------------------------
SLACK_API_URL = "https://slack.com/api/"           # SLACK_API_URL: Slack's Web API base URL
DATABASE_URL = "sqlite:///var/bbops.sqlite3"       # BBOPS_DATABASE_URL: the bot's own database
CONFIG_PATH = "config/environments.yaml"           # BBOPS_CONFIG: environments and policy
HOST = "0.0.0.0"                                   # HOST: bind address of `serve`
PORT = 3000                                        # PORT: HTTP port of `serve`
LOG_LEVEL = "INFO"                                 # BBOPS_LOG_LEVEL: level of the JSON logs

# -- the janitor (bot/serve/janitor.py); overridable by BBOPS_* variables, for tests ---------------
JANITOR_SWEEP_S = 2.0          # BBOPS_JANITOR_SWEEP_S: time between two sweeps
LOST_AFTER_S = 3.0             # BBOPS_LOST_AFTER_S: a queued run's job should exist this long after the ack
RUN_HEARTBEAT_S = 10.0         # BBOPS_RUN_HEARTBEAT_S: how often a running job marks its run alive
DEAD_AFTER_S = 30.0            # BBOPS_DEAD_AFTER_S: no heartbeat this long = its worker is gone (>= 2 beats)
MAX_READ_ATTEMPTS = 3          # starts of a read-only run (or a plan) before it is abandoned
MAX_REQUEUES = 3               # times a job may end without starting its run before the run fails

# -- environment locks (bot/infra/locks.py) -------------------------------------------------------
LEASE_TTL_S = 45.0             # a dead worker's lock is gone within this (< 60 s)
LEASE_HEARTBEAT_S = 10.0       # how often a held lock is renewed (well under LEASE_TTL_S)

# -- job queue (bot/infra/queue.py) ---------------------------------------------------------------
FAST_TIMEOUT_S = 1.0           # Redis calls on the ack path: give up this fast rather than stall the ack
JOB_TIMEOUT_MIN_S = 120.0      # the shortest timeout of a job (and of one whose environment is unknown)

# -- HTTP server (bot/serve/http.py) --------------------------------------------------------------
MAX_BODY_BYTES = 64 * 1024     # a larger request body is refused with 413 before Bolt sees it

# -- the command and what bb-ops says (bot/core/grammar.py, bot/slack/render.py) -------------------
MAX_COMMAND_CHARS = 500        # a longer `/bb` command is refused unread
SECTION_MAX_CHARS = 3000       # Slack: a section block's text
MESSAGE_MAX_CHARS = 3500       # a message's fallback text, well under Slack's 4,000 characters
THREAD_INLINE_MAX_LINES = 40   # longer output goes to a file in the thread

# -- Slack Web API calls (bot/infra/poster.py) ----------------------------------------------------
SLACK_MAX_RETRIES = 8          # retries of one call (rate limits, 5xx, connection errors)
SLACK_BACKOFF_BASE_S = 0.25    # first wait between retries, doubling
SLACK_BACKOFF_MAX_S = 8.0      # longest wait between retries
SLACK_RETRY_AFTER_MAX_S = 300.0  # a longer Retry-After is Slack telling us to stop, not to wait
SLACK_TIMEOUT_S = 15           # one HTTP call to the Web API
