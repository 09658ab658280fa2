"""``mrisynth phantom``: build the offline demo cohort (images, hidden truth, manifest)."""

from __future__ import annotations

import argparse


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "phantom",
        help="build the offline phantom cohort from the MNI152 templates",
        description="Simulate T1-weighted MRI and FDG-PET of a demo cohort (NC, sMCI, pMCI, AD) from the MNI152 "
        "templates shipped with nilearn. The cohort is a deterministic function of the config, its seed and "
        "the number of subjects: two runs write identical bytes. Without --n-subjects an existing manifest is "
        "checked against the config (exit 2 if it differs) and its files are written; with --n-subjects, or "
        "when the manifest does not exist, a new manifest is written as well.",
    )
    p.add_argument("--config", help="YAML config; its 'seed' and 'phantom' section define the cohort (default: schema defaults)")
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--manifest", help="manifest CSV; images and the truth folder are written relative to its folder")
    target.add_argument("--bids", metavar="DIR",
                        help="instead of a manifest, write the cohort as a BIDS dataset with longitudinal diagnoses "
                        "(sessions.tsv; a few MCI histories the 36-month rule excludes), the input of "
                        "`mrisynth bids-manifest`; the hidden true PET goes to DIR/derivatives/phantom_truth")
    p.add_argument("--n-subjects", type=int, metavar="N", help="write a new manifest with this many subjects (group sizes scaled from the config, at least 4)")
    p.add_argument("--threads", type=int, default=1, metavar="N",
                   help="simulate subjects in N processes (the output does not depend on N)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from mrisynth.config import load_config
    from mrisynth.phantom.build import build_cohort

    config = load_config(args.config)
    if args.bids:
        from mrisynth.phantom.bids import write_bids

        specs = write_bids(config, args.bids, args.n_subjects, workers=args.threads)
        print(f"phantom: {len(specs)} subjects ({sum(s.has_pet for s in specs)} with PET) as the BIDS dataset {args.bids}")
        return 0
    specs = build_cohort(config, args.manifest, args.n_subjects, config_name=args.config or "the default config",
                          workers=args.threads)
    print(f"phantom: {len(specs)} subjects ({sum(s.has_pet for s in specs)} with PET) for {args.manifest}")
    return 0
