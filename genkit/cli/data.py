"""``genkit data pack|inspect|verify|icons``: make, look at and check webdataset tar shards (img2dataset's layout);
build the icon set (real drawings from Debian icon themes)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from genkit.errors import InputError

NAME = "data"
HELP = "pack images into webdataset tar shards, inspect shards, verify them, build the icon set"
DESCRIPTION = """\
Tar shards in img2dataset's layout (per sample KEY.jpg + KEY.txt + KEY.json, NNNNN_stats.json beside each shard)
are what the shard datasets read. These subcommands make them from local files, describe them, and check them.

  pack     local images + captions (a folder dataset's captions.jsonl, or a .jsonl/.csv/.parquet index) -> shards
  inspect  counts, image sizes, caption lengths and a contact sheet of random samples
  verify   decode every image and caption; list every bad sample; exit 1 if any
  icons    build a real-image set from Debian icon themes (folder datasets at 32 and 64 px)

examples:
  genkit data pack my_folder shards/ --per-shard 5000 --resize 256
  genkit data inspect "shards/{00000..00009}.tar" --sample 64 --out contact.png
  genkit data verify shards/
  genkit data icons data/icons
"""

ICONS_DESCRIPTION = """\
Build the icon set: drawings from Debian icon-theme packages (downloaded with apt-get download into OUT/cache and
unpacked with dpkg-deb: no install), rendered on white at each --sizes (SVGs by cairosvg, PNGs resized with
Lanczos), captioned from their names ("accessories-calculator" -> "accessories calculator"), deduplicated across
themes and sizes (identical renderings kept once), and split into train and validation by a hash of the caption.

Writes OUT/32px and OUT/64px (folder datasets: captions.jsonl + PNGs; use data: {kind: folder, path: OUT/32px,
size: 32}), OUT/icons.json (packages, counts, skipped files) and OUT/contact_sheet.png. Needs the icons extra
(pip install 'genkit[icons]': cairosvg) for SVG themes. About 13,000 icons with every theme; 2-5 minutes.

examples:
  genkit data icons data/icons
  genkit data icons data/icons --themes faenza,breeze --sizes 32
"""

PACK_DESCRIPTION = """\
Pack local images and their captions into OUT_DIR/00000.tar, 00001.tar, ... (KEY.jpg|png|webp, KEY.txt with the
caption, KEY.json with key, caption, source, width, height and every other column of the row), a NNNNN_stats.json
beside each shard and OUT_DIR/pack.json summarising the run. Keys are img2dataset's: shard number then index.

SOURCE is a folder dataset directory (its captions.jsonl: one JSON object per line with file, caption, optional
split and other keys; paths must stay inside the directory), or an index file: .jsonl, .csv or .parquet (needs
pyarrow) with an image path column (default: the first of file, path, image, filepath, url) and a caption column
(default: the first of caption, text, txt). An index's relative paths resolve against its directory.

Missing or unreadable images are skipped, counted and named (warnings and pack.json); the run goes on. Each
shard is written under a temporary name and renamed when complete.

examples:
  genkit data pack photos/ shards/                           photos/captions.jsonl, images kept as they are
  genkit data pack index.csv shards/ --image-column filename --caption-column alt --resize 256 --format jpg
  genkit data pack index.parquet shards/ --per-shard 1000 --format webp --quality 90
"""

INSPECT_DESCRIPTION = """\
Read every shard once (captions and image headers, no full decoding; memory bounded whatever the corpus size) and
print: shards, samples, samples per shard, image width/height (min/median/max), the share of images whose short
side is under 256 px, caption length in words with a histogram, and the bad samples by reason. Writes a PNG
contact sheet of --sample random samples (reservoir sampling: the same --seed gives the same sheet).

SHARDS is a directory (its *.tar), a glob ("shards/*.tar") or a brace pattern ("shards/{00000..00099}.tar").

examples:
  genkit data inspect shards/
  genkit data inspect "shards/{00000..00009}.tar" --sample 64 --seed 1 --out contact.png
  genkit data inspect shards/ --caption-key json:caption --json > stats.json
"""

VERIFY_DESCRIPTION = """\
Decode every image fully and every caption (and .json member) of every shard and print one line per problem:
SHARD:KEY: reason (corrupt image, no caption, caption not UTF-8, no image member) or SHARD: reason (truncated or
corrupt tar, missing shard), then a summary line. Exit code 0 when all is good, 1 when anything is bad.

examples:
  genkit data verify shards/
  genkit data verify "shards/{00000..00127}.tar" --json > problems.json
"""


def setup(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="data_command", metavar="SUBCOMMAND")
    raw = argparse.RawDescriptionHelpFormatter
    pack = sub.add_parser(
        "pack", help="local images + captions -> tar shards", description=PACK_DESCRIPTION, formatter_class=raw
    )
    pack.add_argument(
        "source",
        type=Path,
        metavar="SOURCE",
        help="a directory with captions.jsonl, or a .jsonl, .csv or .parquet index file",
    )
    pack.add_argument("out_dir", type=Path, metavar="OUT_DIR", help="directory to write the shards into")
    pack.add_argument("--per-shard", type=int, metavar="N", default=10_000, help="samples per shard (default: 10000)")
    pack.add_argument(
        "--resize", type=int, metavar="N", help="resize the short side to N px, aspect kept (default: keep the size)"
    )
    pack.add_argument(
        "--format",
        choices=("keep", "jpg", "png", "webp"),
        default="keep",
        help="image format stored: keep = copy jpg/png/webp files as they are unless resized, "
        "other formats become jpg (default: keep)",
    )
    pack.add_argument(
        "--quality", type=int, metavar="Q", default=95, help="jpg/webp quality when re-encoding (default: 95)"
    )
    pack.add_argument(
        "--image-column",
        metavar="C",
        help="index column holding the image path (default: the first of file, path, image, filepath, url)",
    )
    pack.add_argument(
        "--caption-column",
        metavar="C",
        help="index column holding the caption (default: the first of caption, text, txt)",
    )
    pack.add_argument(
        "--force",
        action="store_true",
        help="write into a non-empty OUT_DIR (replaces the shards, "
        "stats and pack.json of an earlier pack there; other files are left alone)",
    )
    inspect = sub.add_parser(
        "inspect",
        help="statistics and a contact sheet of tar shards",
        description=INSPECT_DESCRIPTION,
        formatter_class=raw,
    )
    verify = sub.add_parser(
        "verify",
        help="decode every sample of tar shards; exit 1 if any is bad",
        description=VERIFY_DESCRIPTION,
        formatter_class=raw,
    )
    for command in (inspect, verify):
        command.add_argument("shards", metavar="SHARDS", help="a directory, a glob or a brace pattern of .tar shards")
        command.add_argument(
            "--caption-key",
            default="txt",
            metavar="KEY",
            help="the caption member's extension, or json:NAME for a key of the .json member (default: txt)",
        )
    inspect.add_argument(
        "--sample", type=int, metavar="N", default=32, help="samples on the contact sheet, 0 = none (default: 32)"
    )
    inspect.add_argument(
        "--seed", type=int, metavar="S", default=0, help="seed of the random choice of samples (default: 0)"
    )
    inspect.add_argument(
        "--out",
        type=Path,
        metavar="FILE.png",
        default=Path("contact_sheet.png"),
        help="contact sheet PNG to write (default: contact_sheet.png)",
    )
    icons = sub.add_parser(
        "icons", help="build the icon set from Debian icon themes", description=ICONS_DESCRIPTION, formatter_class=raw
    )
    icons.add_argument("out_dir", type=Path, metavar="OUT", help="directory to write the set into")
    icons.add_argument(
        "--themes",
        default="adwaita,breeze,elementary,faenza,papirus",
        metavar="A,B",
        help="themes to take, comma-separated (default: adwaita,breeze,elementary,faenza,papirus)",
    )
    icons.add_argument("--sizes", default="32,64", metavar="N,M", help="sides in pixels (default: 32,64)")
    icons.add_argument(
        "--validation-fraction", type=float, default=0.05, metavar="F", help="share of captions in validation (0.05)"
    )
    icons.add_argument("--cache", type=Path, metavar="DIR", help="where packages are kept (default: OUT/cache)")
    icons.add_argument("--workers", type=int, metavar="N", help="rendering processes (default: up to 4 CPUs)")
    for command in (pack, inspect, verify, icons):
        if command is not pack and command is not icons:
            command.add_argument("--json", action="store_true", help="print one JSON object instead of text")
        command.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    handlers = {"pack": run_pack, "inspect": run_inspect, "verify": run_verify, "icons": run_icons}
    if args.data_command not in handlers:
        raise InputError("data: name a subcommand: pack, inspect, verify or icons (see genkit data --help)")
    return handlers[args.data_command](args)


def run_pack(args: argparse.Namespace) -> int:
    from genkit.data.pack import PackOptions, pack, summary_line
    from genkit.train.metrics import WorkProgress

    options = PackOptions(
        per_shard=args.per_shard,
        resize=args.resize,
        format=args.format,
        quality=args.quality,
        image_column=args.image_column,
        caption_column=args.caption_column,
        force=args.force,
    )
    with WorkProgress("packing", enabled=not args.no_progress) as progress:
        summary = pack(args.source, args.out_dir, options, progress)
    print(summary_line(summary))
    if not summary["packed"]:
        raise InputError(f"{args.source}: no item could be packed ({summary['skipped']} skipped)")
    return 0


def run_inspect(args: argparse.Namespace) -> int:
    from genkit.data.inspect import format_report, inspect_shards, write_contact_sheet
    from genkit.train.metrics import WorkProgress

    if args.sample < 0:
        raise InputError(f"--sample: must be 0 or more, not {args.sample}")
    with WorkProgress("reading shards", enabled=not args.no_progress) as progress:
        report, picked = inspect_shards(args.shards, args.caption_key, args.sample, args.seed, progress)
    report["contact_sheet"] = str(write_contact_sheet(picked, args.out)) if picked else None
    if args.json:
        print(json.dumps(report))
        return 0
    print(format_report(report))
    if picked:
        print(f"wrote {args.out} ({len(picked)} random samples, seed {args.seed})")
    return 0


def run_verify(args: argparse.Namespace) -> int:
    from genkit.data.inspect import verify_shards, verify_summary
    from genkit.train.metrics import WorkProgress

    with WorkProgress("verifying", enabled=not args.no_progress) as progress:
        result = verify_shards(args.shards, args.caption_key, None if args.json else print, progress)
    if args.json:
        print(json.dumps(result))
    else:
        print(verify_summary(result))
    return 1 if result["bad"] or result["damaged_shards"] else 0


def run_icons(args: argparse.Namespace) -> int:
    from genkit.data.icon_themes import build_icon_set
    from genkit.train.metrics import WorkProgress

    try:
        sizes = [int(side) for side in args.sizes.split(",")]
    except ValueError:
        raise InputError(f"--sizes: comma-separated integers, not {args.sizes!r}") from None
    if not 0 < args.validation_fraction < 1:
        raise InputError(f"--validation-fraction: between 0 and 1, not {args.validation_fraction}")
    themes = [name.strip() for name in args.themes.split(",") if name.strip()]
    with WorkProgress("rendering icons", enabled=not args.no_progress) as progress:
        summary = build_icon_set(
            args.out_dir, themes, sizes, args.cache, args.validation_fraction, args.workers, progress
        )
    print(
        f"wrote {summary['images']} icons ({summary['train']} train, {summary['validation']} validation) "
        f"at {', '.join(f'{s} px' for s in sizes)} under {args.out_dir}; "
        f"{summary['duplicates_dropped']} duplicates dropped, {len(summary['skipped'])} files skipped "
        f"(see icons.json); contact sheet: {args.out_dir / 'contact_sheet.png'}"
    )
    return 0 if summary["images"] else 1
