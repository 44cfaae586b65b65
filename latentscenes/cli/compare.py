"""Compare a finished latent run (fit --space latent) with the cold-start RGB baseline (fit --space
rgb, random start, random rays) and optionally the warm-started RGB control (fit --space rgb
init_from=RUN) and cold RGB on whole images (fit.rays_per_view=0, the paper's protocol) on the
same scenes: held-out and training-view PSNR of all views (RUN/eval.json, evaluated here when
missing or older than the run's last checkpoint) and the train / held-out gap; each curve's
end and its rise over the last quarter (near 0: at its plateau); training seconds per scene to
the cold RGB curve's end - MARGIN dB, the rays rendered per scene to get there and the passes
they make over a scene's training pixels (latent pixels for latent scenes), and the latent
scenes' speed-up against each RGB run (a lower bound, >=, against a run that never reached the
target), also with one-time costs (autoencoder, stage 1 and a learned start's training; the warm
control's earlier RGB run) spread over N = 17, 100 and 1000 new scenes; a learned start's
prediction counts as per-scene time. Refuses runs of different scenes, splits or curve views.
Choose settings with --held-out val; report --held-out test once. Seconds are each run's own:
compare runs trained with the same threads on the same machine at the same time, or price
each method's steps with --step-costs (latentscenes bench steps LATENT RGB [WARM] [WHOLE]).

example:
  latentscenes compare runs/latent --rgb runs/rgb --warm-rgb runs/rgb-warm"""

from __future__ import annotations

import argparse
from pathlib import Path

from latentscenes.cli.common import add_command


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command(
        subparsers, "compare",
        "the headline comparison of finished runs on the same scenes: quality, gap, speed, one-time costs", __doc__,
    )
    parser.add_argument("latent", help="the latent run (fit --space latent)")
    parser.add_argument("--rgb", required=True, help="the cold-start RGB run on the same scenes (fit --space rgb)")
    parser.add_argument("--warm-rgb", help="the warm-started RGB run on the same scenes (fit --space rgb init_from=RUN)")
    parser.add_argument("--whole-image-rgb", help="cold RGB on whole images, the paper's protocol, on the same scenes "
                        "(fit --space rgb fit.rays_per_view=0)")
    parser.add_argument("--held-out", choices=("test", "val"), default="test",
                        help="held-out views: test (report once) or val (choose settings); default test")
    parser.add_argument("--margin", type=float, default=1.0,
                        help="the matched PSNR is the cold RGB curve's end minus this many dB (default 1)")
    parser.add_argument("--step-costs", metavar="FILE",
                        help="`latentscenes bench steps` JSON for these runs: also price the steps to the target")
    parser.add_argument("--json", help="write the comparison to this file (default LATENT/compare.json)")


def run(args: argparse.Namespace) -> int:
    from latentscenes.io import atomic_write_json
    from latentscenes.studies.compare import CompareSettings, compare_runs, format_comparison

    result = compare_runs(
        CompareSettings(
            latent=Path(args.latent), rgb=Path(args.rgb), warm_rgb=Path(args.warm_rgb) if args.warm_rgb else None,
            whole_image_rgb=Path(args.whole_image_rgb) if args.whole_image_rgb else None,
            held_out=args.held_out, margin=args.margin, step_costs=Path(args.step_costs) if args.step_costs else None,
        )
    )
    out = Path(args.json) if args.json else Path(args.latent) / "compare.json"
    atomic_write_json(out, result)
    print(format_comparison(result))
    print(f"wrote {out}")
    return 0
