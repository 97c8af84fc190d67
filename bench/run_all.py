"""`make bench`: every benchmark under bench/, one after another; figures only, no pass/fail."""

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHES = ["ack_latency.py", "readyz_e2e.py", "redaction.py", "migrate_overhead.py", "snapshot.py", "burst.py"]

for name in BENCHES:
    path = HERE / name
    if not path.exists():
        continue
    print(f"\n=== {name} ===", flush=True)
    subprocess.run([sys.executable, str(path)], cwd=HERE)
