"""Run the latentscenes CLI in this process and SIGKILL it in the middle of a file write.

    python tests/crash_at.py {checkpoint,cache} N -- latentscenes arguments...

The N-th safetensors write of a checkpoint (`checkpoint`) or a latent-cache entry (`cache`)
writes its file completely, cuts it to half its size and kills the process, as a crash in
the middle of the write would: what is on disk afterwards is what a real crash leaves.
"""

import importlib
import os
import signal
import sys

from latentscenes.cli.main import main

MODULES = {"checkpoint": "latentscenes.engine.checkpoint", "cache": "latentscenes.autoencoder.cache"}


def crash_on_write(module, count: int) -> None:
    real = module.save_file
    calls = []

    def save_then_crash(tensors, path, *args, **kwargs):
        real(tensors, path, *args, **kwargs)
        calls.append(path)
        if len(calls) == count:
            os.truncate(path, os.path.getsize(path) // 2)
            os.kill(os.getpid(), signal.SIGKILL)

    module.save_file = save_then_crash


if __name__ == "__main__":
    where, count, separator, *argv = sys.argv[1:]
    assert separator == "--", __doc__
    crash_on_write(importlib.import_module(MODULES[where]), int(count))
    sys.exit(main(argv))
