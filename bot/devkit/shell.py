"""`bb-ops shell`: type `/bb` commands, read the channel as text, act as any user, click buttons."""

from __future__ import annotations

import contextlib
import shlex
import sys

from bot.core.settings import Settings

HELP = """commands:
  /bb <verb> [env] [args]           send a slash command (e.g. /bb readyz prod)
  as <USER_ID>                      act as another Slack user (e.g. as U0BOB)
  channel <CHANNEL_ID>              type in another channel
  click <RUN_ID> approve|reject|cancel   press a button on a run's card
  channel-log                       print the whole channel so far
  help                              this text
  quit                              leave"""


def run_shell(settings: Settings, *, user: str, channel: str | None, demo: bool,
              stdin=None, stdout=None) -> int:
    from bot.devkit.demo import DEMO_DIR, demo_world
    from bot.devkit.driver import Driver, DriverError, render_messages

    stdin, stdout = stdin or sys.stdin, stdout or sys.stdout
    with contextlib.ExitStack() as stack:
        state_file = None
        if demo:
            world = stack.enter_context(demo_world())
            settings, state_file = world.settings, DEMO_DIR / "slack-standin.json"
        driver = stack.enter_context(Driver(settings, **({"state_file": state_file} if state_file else {}),
                                            in_process=True if demo else None))
        channel = channel or next(iter(next(iter(driver.rt.config.environments.values())).channels))
        print(f"bb-ops shell: you are {user} in #{channel}. Type `help`.", file=stdout)
        interactive = stdin.isatty()
        while True:
            if interactive:
                stdout.write(f"{user}@#{channel}> ")
                stdout.flush()
            line = stdin.readline()
            if not line:
                return 0
            line = line.strip()
            if not line:
                continue
            try:
                words = shlex.split(line) if not line.startswith("/") else line.split()
            except ValueError as exc:
                print(f"cannot read that line: {exc}", file=stdout)
                continue
            head = words[0].lower()
            try:
                if head in ("quit", "exit"):
                    return 0
                if head == "help":
                    print(HELP, file=stdout)
                elif head == "as" and len(words) == 2:
                    user = words[1]
                    print(f"you are now {user}", file=stdout)
                elif head == "channel" and len(words) == 2:
                    channel = words[1]
                    print(f"you are now in #{channel}", file=stdout)
                elif head == "channel-log":
                    print(render_messages(driver.standin.messages(channel)), file=stdout)
                elif head == "click" and len(words) == 3 and words[1].isdigit():
                    print(render_messages(driver.click(user, int(words[1]), words[2].lower())), file=stdout)
                elif head == "/bb":
                    print(render_messages(driver.command(user, channel, line[3:].strip())), file=stdout)
                else:
                    print("not understood; type `help`", file=stdout)
            except DriverError as exc:
                print(f"error: {exc}", file=stdout)
