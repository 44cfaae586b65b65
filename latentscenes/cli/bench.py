"""`latentscenes bench`: speed measurements on this machine (recorded in docs/benchmarks.md)."""

from __future__ import annotations

import argparse

from latentscenes.io import atomic_write_json


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "bench",
        help="measure speed on this machine (rendering, ...)",
        description="Speed benchmarks on this machine. Results are printed and optionally saved as JSON.",
    )
    targets = parser.add_subparsers(dest="target", metavar="TARGET", required=True)
    render = targets.add_parser(
        "render",
        help="forward+backward ms per view: latent 16x16x4 and RGB 128x128x3",
        description=(
            "Forward+backward time of one view with the reference sizes (32 channels, 64^2 planes, "
            "48 + 48 samples per ray): latent 16x16 with 4 channels and RGB 128x128 with 3, and the "
            "sample throughput. Median of --repeats runs after a warm-up. Set threads with "
            "`latentscenes --threads N bench render`."
        ),
    )
    render.add_argument("--repeats", type=int, default=5, help="timed runs per case (default 5)")
    render.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda")
    render.add_argument("--json", metavar="FILE", help="also write the results to FILE")


def run(args: argparse.Namespace) -> int:
    from latentscenes.rendering.bench import bench_render

    result = bench_render(repeats=args.repeats, device=args.device)
    print(f"device {result['device']}, {result['threads']} threads")
    print(f"{'case':<8}{'ms/view':>10}{'Msamples/s':>12}")
    for case in ("latent", "rgb"):
        values = result[case]
        print(f"{case:<8}{values['ms_per_view']:>10.2f}{values['samples_per_s'] / 1e6:>12.2f}")
    if args.json:
        atomic_write_json(args.json, result)
        print(f"wrote {args.json}")
    return 0
