"""Settings of the smallest real training runs (a few steps at 16-32 px), for tests that
start many runs or processes: crash and resume, locks, bad input, moved runs, full disks."""

from dataclasses import replace

from latentscenes.engine.loop import LoopSettings

QUIET = ["logging.backend=none", "logging.progress=false"]
# the training loop driven directly: the recipes' default schedule, no progress bar, no evaluation
LOOP = LoopSettings(log_every=10, eval_every=0, checkpoint_every=200, seed=0, progress=False)


def loop_settings(**changes) -> LoopSettings:
    return replace(LOOP, **changes)


TINY_RGB = [
    "data.num_test_views=4", "planes.resolution=16", "planes.channels=8", "render.samples=8", "render.importance_samples=0",
    "fit.steps=2", "fit.rays_per_view=16", "eval.views=1", "eval.scenes=1", *QUIET,
]

# stage 1 on the first 2 scenes of objects_32px: 6 + 9 + 15 steps, a checkpoint every 3
TINY_STAGE1 = [
    "data.count=2", "data.num_test_views=4",
    "autoencoder.vae=", "autoencoder.preset=tiny", "autoencoder.downsample=4",
    "planes.resolution=16", "planes.channels=8", "planes.micro_channels=4", "planes.num_bases=4",
    "render.samples=8", "render.importance_samples=0",
    "warmup.steps=6", "warmup.scenes_per_batch=2", "warmup.views_per_scene=2",
    "scenes.steps=9", "scenes.scenes_per_batch=2", "scenes.views_per_scene=2", "scenes.freeze_mlp_last=0",
    "joint.steps=15", "joint.scenes_per_batch=2", "joint.views_per_scene=1",
    "logging.log_every=1", "logging.checkpoint_every=3", "eval.every=6", "eval.views=2", "eval.scenes=2", *QUIET,
]
TINY_STAGE1_STEPS = 30

# stage 2 on the third scene of objects_32px: 4 + 4 steps, a checkpoint every 2
TINY_STAGE2 = [
    "data.start=2", "data.count=1", "data.num_test_views=4", "render.samples=8", "render.importance_samples=0",
    "encode.steps=4", "encode.scenes_per_batch=1", "encode.views_per_scene=2",
    "decode.steps=4", "decode.scenes_per_batch=1", "decode.views_per_scene=1",
    "logging.checkpoint_every=2", "eval.views=2", *QUIET,
]
