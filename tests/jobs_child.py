"""A stand-in rank for the launcher tests (``run_jobs(..., module="jobs_child")``): writes its pid to
``DIR/rank-R.pid`` (DIR: its first argument), then sleeps up to 60 s."""

import os
import sys
import time
from pathlib import Path

if __name__ == "__main__":
    (Path(sys.argv[1]) / f"rank-{os.environ['RANK']}.pid").write_text(str(os.getpid()))
    time.sleep(60)
