"""A parent that trains one run in a fresh process whose `fit` only waits (it writes its pid
to RUN/child.pid first); the test kills this parent and watches the child.

    python tests/orphan_parent.py RUN
"""

import os
import sys
import time
from pathlib import Path

from latentscenes.engine.fresh_process import train_in_fresh_process
from latentscenes.recipes.rgb import FitRGBConfig


def wait_a_long_time(config, run, resume=False):
    (run.root / "child.pid").write_text(str(os.getpid()))
    time.sleep(300)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))  # the spawned child imports this module's fit
    from orphan_parent import wait_a_long_time as fit

    train_in_fresh_process(Path(sys.argv[1]), FitRGBConfig, "fit-rgb", fit, None, [])
