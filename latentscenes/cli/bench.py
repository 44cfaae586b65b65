"""Speed benchmarks on this machine. Results are printed and optionally saved as JSON. Set threads
with `latentscenes --threads N bench ...`."""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Callable
from pathlib import Path

from latentscenes.cli.common import add_command
from latentscenes.io import atomic_write_json


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command(
        subparsers, "bench",
        "measure speed on this machine (rendering, joint phase, latent cache, scene bank, step costs, scale)", __doc__,
    )
    targets = parser.add_subparsers(dest="target", metavar="TARGET", required=True)
    render = _target(targets, "render", "forward+backward ms per view: latent 16x16x4 and RGB 128x128x3", _render)
    _common(render, repeats=5)

    joint = _target(
        targets, "joint", "seconds per stage-1 joint (phase B) step, and its encoder/decoder/render split", _joint
    )
    _autoencoder_arguments(joint, batch=4)
    cache = _target(targets, "cache", "images per second encoded into the latent cache (no gradients)", _cache)
    _autoencoder_arguments(cache, batch=16)
    bank = _target(targets, "bank", "optimiser step of a bank of N scenes: RowAdam (sparse) vs dense Adam", _bank)
    bank.add_argument("--scenes", type=int, default=1000, help="scenes in the bank (default 1000)")
    bank.add_argument("--batch", type=int, default=16, help="scenes per batch (default 16)")
    _common(bank, repeats=5, device=False)
    processes = _target(
        targets, "torchrun", "scenes per second of RGB fitting under torchrun with 1, 2, ... processes", _torchrun
    )
    processes.add_argument("--data", help="dataset folder (default: 8 objects built for the benchmark)")
    processes.add_argument("--processes", default="1,2", help="comma-separated process counts (default 1,2)")
    processes.add_argument("--steps", type=int, default=30, help="training steps per run (default 30)")
    processes.add_argument("--batch", type=int, default=2, help="scenes per process and step (default 2)")
    processes.add_argument("--threads-per-process", type=int, default=1, help="torch threads of each process (default 1)")
    processes.add_argument("--json", metavar="FILE", help="also write the results to FILE")

    steps = _target(
        targets, "steps", "seconds per training step of each phase of finished fit runs, measured side by side", _steps
    )
    steps.add_argument("runs", nargs="+", metavar="RUN", help="finished runs (fit --space latent or rgb)")
    steps.add_argument("--steps", type=int, default=50, help="timed steps per probe (default 50)")
    steps.add_argument("--skip", type=int, default=10, help="steps before the timed ones, not timed (default 10)")
    steps.add_argument("--rounds", type=int, default=3, help="interleaved rounds; the median is kept (default 3)")
    steps.add_argument("--out", default="bench-steps", help="folder for the probe runs (default ./bench-steps)")
    steps.add_argument("--json", metavar="FILE", help="write the results to FILE (default OUT/steps.json)")

    scale = _target(
        targets, "scale", "cost per scene against N: latent scenes vs RGB Tri-Planes on the same N new scenes", _scale
    )
    scale.add_argument("--from", dest="stage1", required=True, metavar="RUN", help="the stage-1 run (latentscenes train)")
    scale.add_argument("--data", required=True, metavar="DIR", help="dataset holding the new scenes")
    scale.add_argument("--start", type=int, default=0, help="first new scene in the dataset (default 0)")
    scale.add_argument(
        "--scenes", default=None, help="comma-separated numbers of scenes N (default 10,100,1000; 2,4 with --quick)"
    )
    scale.add_argument("--out", default="bench-scale", help="folder for runs and results (default ./bench-scale)")
    scale.add_argument("--latent-config", default=None, metavar="FILE", help="stage-2 config (default: the demo's settings of recipe latent-2x)")
    scale.add_argument("--rgb-config", default=None, metavar="FILE", help="RGB baseline config (default: the demo's settings of recipe rgb)")
    scale.add_argument("--repeats", type=int, default=3, help="timed 128 x 128 renders per case (default 3)")
    scale.add_argument("--one-at-a-time", action="store_true",
                       help="train the RGB run after the latent one with all of torch's threads, instead of beside "
                       "it with half of them (the default when there are two or more)")
    scale.add_argument(
        "--psnr-scenes", type=int, default=100,
        help="test PSNR on at most this many scenes, evenly spaced among the N (default 100)",
    )
    scale.add_argument("--psnr-views", type=int, default=4, help="test views per scene for the PSNR (default 4)")
    scale.add_argument(
        "--target-psnr", type=float, default=None, metavar="DB",
        help="compare the training seconds per scene to reach this test PSNR on the training curves "
        "(default: the lower of the two methods' final PSNRs)",
    )
    scale.add_argument(
        "--quick", action="store_true", help="minutes, not hours: short runs, and N = 2 and 4 unless --scenes"
    )
    scale.add_argument(
        "overrides", nargs="*", metavar="key=value", help="latent.key=value and rgb.key=value override the two configs"
    )
    scale.set_defaults(json=None)


def _target(targets: argparse._SubParsersAction, name: str, help: str, measure: Callable) -> argparse.ArgumentParser:
    """The benchmark `name`, described in --help by the docstring of `measure`, which runs it."""
    parser = add_command(targets, name, help, measure.__doc__)
    parser.set_defaults(measure=measure)
    return parser


def _common(parser: argparse.ArgumentParser, repeats: int, device: bool = True) -> None:
    parser.add_argument("--repeats", type=int, default=repeats, help=f"timed runs per case (default {repeats})")
    if device:
        parser.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda")
    parser.add_argument("--json", metavar="FILE", help="also write the results to FILE")


def _autoencoder_arguments(parser: argparse.ArgumentParser, batch: int) -> None:
    parser.add_argument("--preset", default="sd", help="autoencoder preset: sd, medium, small, tiny (default sd)")
    parser.add_argument("--downsample", type=int, default=8, help="downsampling factor of the preset (default 8)")
    parser.add_argument("--latent-channels", type=int, default=4, help="latent channels of the preset (default 4)")
    parser.add_argument("--vae", default="", help="pretrained autoencoder instead of a preset: builtin:<name>, a folder or a hub id")
    parser.add_argument("--batch", type=int, default=batch, help=f"images per step (default {batch})")
    parser.add_argument("--size", type=int, default=128, help="image size in pixels (default 128)")
    _common(parser, repeats=3, device=False)


def run(args: argparse.Namespace) -> int:
    import torch

    result = args.measure(args)
    result["threads"] = torch.get_num_threads()
    if args.json:
        atomic_write_json(args.json, result)
        print(f"wrote {args.json}")
    return 0


def _render(args: argparse.Namespace) -> dict:
    """Forward+backward time of one view with the reference sizes (32 channels, 64^2 planes, 48 + 48
    samples per ray): latent 16x16 with 4 channels and RGB 128x128 with 3, and the sample
    throughput. Median of --repeats runs after a warm-up."""
    from latentscenes.bench.rendering import bench_render

    result = bench_render(repeats=args.repeats, device=args.device)
    print(f"device {result['device']}, {result['threads']} threads")
    print(f"{'case':<8}{'ms/view':>10}{'Msamples/s':>12}")
    for case in ("latent", "rgb"):
        values = result[case]
        print(f"{case:<8}{values['ms_per_view']:>10.2f}{values['samples_per_s'] / 1e6:>12.2f}")
    return result


def _autoencoder_options(args: argparse.Namespace) -> dict:
    return dict(
        preset=args.preset, downsample=args.downsample, latent_channels=args.latent_channels, vae=args.vae,
        batch=args.batch, size=args.size, repeats=args.repeats,
    )


def _joint(args: argparse.Namespace) -> dict:
    """One stage-1 phase-B step (ES + DS + AE + TV, autoencoder, Tri-Planes and MLP all training,
    reference Tri-Plane sizes) on --batch scenes x 1 view of --size px, with per-image encoder,
    decoder and latent-render forward+backward times (docs/log/benchmarks.md compares them with
    the reference implementation)."""
    from latentscenes.bench.training import bench_joint

    result = bench_joint(**_autoencoder_options(args))
    split = result["per_image"]
    print(
        f"autoencoder {result['preset']} ({result['autoencoder_parameters'] / 1e6:.1f}M parameters, "
        f"{result['downsample']}x, {result['latent_channels']} channels), batch {result['batch']} at "
        f"{result['size']} px, {result['threads']} threads"
    )
    print(
        f"phase-B step: {result['step_s']:.2f} s ({result['images_per_s']:.2f} images/s), "
        f"{result['gflop_per_step']:.0f} GFLOP ({result['gflop_per_s']:.0f} GFLOP/s)"
    )
    print(
        f"per image fwd+bwd: encoder {split['encoder_s']:.3f} s, decoder {split['decoder_s']:.3f} s, "
        f"latent render {split['render_s']:.3f} s"
    )
    return result


def _cache(args: argparse.Namespace) -> dict:
    """Posterior means of --batch random images per call, as when the latent cache is filled."""
    from latentscenes.bench.training import bench_cache

    result = bench_cache(**_autoencoder_options(args))
    print(f"latent cache: {result['images_per_s']:.1f} images/s ({result['batch']} images of {result['size']} px per call)")
    return result


def _bank(args: argparse.Namespace) -> dict:
    """One optimiser step of a reference-size micro-macro scene bank of --scenes scenes of which a
    batch touches --batch: RowAdam (lazy Adam, per-row step counts) on sparse per-scene
    gradients (what training uses with planes.sparse_grad=true) and dense Adam, which reads and
    writes every scene."""
    from latentscenes.bench.training import bench_bank

    result = {}
    for sparse in (True, False):
        key = "sparse" if sparse else "dense"
        result[key] = bench_bank(args.scenes, args.batch, sparse=sparse, repeats=args.repeats)
        print(
            f"{key:<7} {result[key]['step_s'] * 1e3:9.1f} ms/step  ({args.scenes} scenes, {args.batch} per batch, "
            f"bank {result[key]['bank_mb']:.0f} MB)"
        )
    result["speedup"] = result["dense"]["step_s"] / result["sparse"]["step_s"]
    print(f"RowAdam is {result['speedup']:.1f}x faster per step")
    return result


def _steps(args: argparse.Namespace) -> dict:
    """Re-train each finished fit run's own recipe (its config.yaml, data and scenes, from the same
    start) for --skip + --steps steps of one phase at a time, each probe in a fresh process, the
    runs interleaved round after round, and report the median seconds per step between steps
    --skip and --skip + --steps. Every phase is then timed under the same load, which a run's
    own training seconds are not. `latentscenes compare --step-costs FILE` prices each method's
    steps with them."""
    from latentscenes.bench.steps import StepSettings, format_step_costs, measure_step_costs

    out = Path(args.out)
    result = measure_step_costs(
        StepSettings(runs=tuple(Path(run) for run in args.runs), out=out, steps=args.steps, skip=args.skip,
                     rounds=args.rounds)
    )
    print(format_step_costs(result))
    args.json = args.json or str(out / "steps.json")
    return result


def _scale(args: argparse.Namespace) -> dict:
    """For each N of --scenes, stage 2 (from the stage-1 run --from) and the RGB baseline learn the
    same N new scenes of --data (from --start), each in a fresh process, and are measured:
    training seconds per scene (stage 1's time amortised over N for the latent method), test
    PSNR, effective bytes per scene (per-scene parameters + their optimiser state + shared
    parameters / N) and the time to render one 128 x 128 image. Writes bench.json, bench.md and
    bench.png to --out; running it again with the same --out resumes the runs."""
    from pathlib import Path

    from latentscenes.bench.scale import ScaleSettings, format_table, quick, run_scale
    from latentscenes.errors import LatentScenesError

    scenes = args.scenes or ("2,4" if args.quick else "10,100,1000")
    try:
        counts = tuple(int(value) for value in scenes.split(","))
    except ValueError:
        raise LatentScenesError(f"--scenes must be comma-separated integers, got {scenes!r}") from None
    if any(count < 1 for count in counts):
        raise LatentScenesError(f"--scenes must be positive, got {scenes!r}")
    if args.psnr_scenes < 1 or args.psnr_views < 1:
        raise LatentScenesError("--psnr-scenes and --psnr-views must be at least 1")
    bad = [item for item in args.overrides if not item.startswith(("latent.", "rgb."))]
    if bad:
        raise LatentScenesError(f"overrides must start with latent. or rgb., got {bad[0]!r}")
    settings = ScaleSettings(
        out=Path(args.out), stage1=Path(args.stage1), data=Path(args.data), start=args.start, counts=counts,
        latent_config=args.latent_config and Path(args.latent_config),
        rgb_config=args.rgb_config and Path(args.rgb_config),
        overrides=tuple(args.overrides), render_repeats=args.repeats, psnr_scenes=args.psnr_scenes,
        psnr_views=args.psnr_views, target_psnr=args.target_psnr, side_by_side=not args.one_at_a_time,
    )
    result = run_scale(quick(settings) if args.quick else settings)
    print(format_table(result))
    print(f"wrote {Path(args.out) / 'bench.json'}, bench.md and bench.png")
    return result


def _torchrun(args: argparse.Namespace) -> dict:
    """Fit --steps RGB steps (fit --space rgb, --batch scenes per process and step) under `python -m
    torch.distributed.run --standalone` with each number of --processes, --threads-per-process
    threads each, and report trained scenes per second of training time (steps x batch x
    processes / training seconds of rank 0, evaluation excluded). Without --data, a dataset of 8
    pybullet objects at 32 px is built in a temporary folder."""
    from latentscenes.bench.torchrun import bench_dataset, bench_torchrun

    with tempfile.TemporaryDirectory(prefix="latentscenes-bench-") as folder:
        data = Path(args.data) if args.data else bench_dataset(Path(folder) / "data")
        counts = [int(part) for part in args.processes.split(",")]
        result = bench_torchrun(data, Path(folder), counts, args.steps, args.batch, args.threads_per_process)
    for row in result["runs"]:
        print(
            f"{row['processes']} process(es) x {args.threads_per_process} thread(s): {row['scenes_per_s']:.2f} scenes/s "
            f"({row['train_seconds']:.1f} s training, {row['wall_seconds']:.1f} s in all)"
        )
    return result
