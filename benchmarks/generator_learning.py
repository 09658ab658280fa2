"""Can the synthesis generator learn what the MRI says about the disease regions? A lean learning probe.

On one fold of a preprocessed results tree, the Pix2Pix mean U-Net (the deterministic generator that the
additive sampler's mean is) is trained with L1 alone (no discriminator, no noise term: the question is
whether the architecture and its training can learn the non-local signal, not how a GAN balances) on the
fold's training subjects, residual over the voxelwise linear T1 map and started at it (zeroed output), as
``train-synthesis`` does. Every ``--every`` steps it prints, on the fold's validation and test subjects
(true PET: real or the phantom's hidden truth), the meta-ROI mean SUVR RMSE, with the linear map (step 0)
as the reference, so a variant that learns shows a falling meta-ROI RMSE on held-out subjects.

    .venv/bin/python benchmarks/generator_learning.py --results results --config results/config/effective.yaml \
        --fold 0 --norm instance --steps 600
"""

from __future__ import annotations

import argparse
import copy
import time
from pathlib import Path

import numpy as np
import torch

from mrisynth.zoo.nets.severity import SeverityPath


def load_fold(cfg: dict, results: Path, fold: int, all_truth: bool = False, oracle_targets: bool = False,
              stages_without_pet: bool = False):
    from mrisynth.cohort.splits import split_path
    from mrisynth.cohort.table import DISEASE_STAGE
    from mrisynth.io.nifti import load_array
    from mrisynth.synthesis.intensity import IntensityMapping
    from mrisynth.synthesis.regional import Regions
    from mrisynth.synthesis.subjects import fold_subjects, reference_pet

    sc = cfg["synthesis"]
    fs = fold_subjects(results, results / "manifest" / "manifest.csv", split_path(results, fold), cfg["preprocess"]["resolution_mm"])
    # --all-truth: every non-test subject with a true PET (real, or the phantom's hidden truth) trains
    # (a probe of what more training subjects give; the pipeline trains on real PET only)
    trainers = [s for s in fs.train + fs.val + fs.impute if s.split != "test"] if all_truth else fs.train
    trainers = [s for s in trainers if reference_pet(s) is not None]
    pet_of = lambda s: load_array(reference_pet(s)[0])[0]  # noqa: E731
    if oracle_targets:  # the known-signal case: the phantom's achievable PET, no unpredictable part, as truth
        from mrisynth.synthesis.oracle import PhantomOracle

        oracle = PhantomOracle(cfg, results / "manifest" / "manifest.csv")
        pet_of = lambda s: oracle.pet(s.participant_id, s.paths.t1_xfm, s.paths.pet_xfm if s.has_pet else s.paths.truth_pet_xfm)  # noqa: E731
    train = [(load_array(s.paths.t1)[0], pet_of(s), load_array(s.paths.mask)[0] > 0) for s in trainers]
    mapping = IntensityMapping.fit(*zip(*train), percentile=sc["intensity_percentile"], residual=True, base="linear")

    def held_out(subjects):
        out = []
        for s in subjects:
            ref = reference_pet(s)
            if ref is not None:
                out.append((mapping.t1_to_net(load_array(s.paths.t1)[0]), pet_of(s), load_array(s.paths.mask)[0] > 0))
        return out

    affine = load_array(fs.train[0].paths.pet)[1]
    regions = Regions.on_grid(affine, train[0][1].shape)
    pairs = []
    for t1, pet, _ in train:
        t1n = mapping.t1_to_net(t1)
        pairs.append((t1n, mapping.pet_to_net(pet, t1n)))
    val = [] if all_truth else fs.val
    # every training subject's T1 and disease stage (PET or not), for --severity-head; test subjects' for scoring
    dev = [s for s in fs.train + fs.val + fs.impute if s.split == "train" or (all_truth and s.split == "val")]
    if stages_without_pet:  # the stage loss only on training MRIs whose PET the maps never see
        dev = [s for s in dev if s not in fs.train]
    labelled = lambda subjects: [(mapping.t1_to_net(load_array(s.paths.t1)[0]), DISEASE_STAGE[s.diagnosis]) for s in subjects]  # noqa: E731
    return (mapping, pairs, held_out(val), held_out(fs.test), regions.meta_roi, labelled(dev), labelled(fs.test),
            labelled(fs.val), affine, held_out(trainers[:24]))


class RegionReadout(torch.nn.Module):
    """Mean of the input in each region (masks on the padded grid), standardised over the training T1s, then a
    linear layer."""

    def __init__(self, masks: torch.Tensor, train_x: torch.Tensor):
        super().__init__()
        self.register_buffer("weights", masks / masks.sum((1, 2, 3), keepdim=True))
        feats = self.means(train_x)
        self.register_buffer("mu", feats.mean(0))
        self.register_buffer("sd", feats.std(0) + 1e-6)
        self.linear = torch.nn.Linear(len(masks), 1)

    def means(self, x):
        return torch.einsum("ncxyz,rxyz->nr", x, self.weights)

    def forward(self, x):
        return self.linear((self.means(x) - self.mu) / self.sd)


def pad(x: torch.Tensor, multiple: int) -> tuple[torch.Tensor, tuple]:
    from mrisynth.synthesis.data import pad_to_multiple

    return pad_to_multiple(x[None, None], multiple)


def scores(net, mapping, subjects, roi, multiple) -> str:
    """Meta-ROI mean SUVR RMSE over the subjects and brain MAE (SUVR)."""
    from mrisynth.synthesis.data import crop_like

    if not subjects:
        return "-"
    errs, mae, preds, truth = [], [], [], []
    with torch.no_grad():
        for t1n, pet, mask in subjects:
            x, _ = pad(t1n, multiple)
            y = crop_like(net(x), tuple(t1n.shape))[0, 0]
            pred = mapping.net_to_pet(y, t1n).numpy()
            errs.append(pred[roi].mean() - pet[roi].mean())
            mae.append(np.abs(pred - pet)[mask].mean())
            preds.append(pred[roi].mean())
            truth.append(pet[roi].mean())
    p, t = np.array(preds) - np.mean(preds), np.array(truth) - np.mean(truth)
    slope = float(p @ t / max(p @ p, 1e-12))  # < 1: the predicted meta-ROI values spread wider than the truth follows
    return (f"meta-ROI RMSE {np.sqrt(np.mean(np.square(errs))):.4f} (slope of truth on prediction {slope:.2f}) "
            f"brain MAE {np.mean(mae):.4f}")


def severity_gain(net, mapping, pairs, val, test, roi, multiple) -> str:
    """Test meta-ROI RMSE when the subject-level term is scaled about the training pairs' mean severity s0 by a
    gain c fit on the validation subjects (least squares, closed form): c from the meta-ROI means, and c from
    every brain voxel. c > 1: the trained term is too weak (the predictions spread less than the truth follows)."""
    if not isinstance(net, SeverityPath):
        return ""
    from mrisynth.synthesis.data import crop_like

    with torch.no_grad():
        s0 = float(np.mean([float(net.severity(pad(t, multiple)[0])) for t, _ in pairs]))

    def parts(subjects):
        out = []
        with torch.no_grad():
            for t1n, pet, mask in subjects:
                x, _ = pad(t1n, multiple)
                maps, s = net.maps(x), float(net.severity(x))
                a = crop_like(maps[:, :1] + s0 * maps[:, 1:], tuple(t1n.shape))[0, 0]
                p = crop_like(maps[:, :1] + s * maps[:, 1:], tuple(t1n.shape))[0, 0]
                a, p = mapping.net_to_pet(a, t1n).numpy(), mapping.net_to_pet(p, t1n).numpy()
                out.append((a, p - a, pet, mask))
        return out

    from mrisynth.synthesis.severity_gain import gain_from

    v, t = parts(val), parts(test)
    c_meta = gain_from([(a[roi].mean(keepdims=True), b[roi].mean(keepdims=True), y[roi].mean(keepdims=True)) for a, b, y, _ in v])
    c_brain = gain_from([(a[m], b[m], y[m]) for a, b, y, m in v])
    rmse = lambda c: np.sqrt(np.mean([(a[roi].mean() + c * b[roi].mean() - y[roi].mean()) ** 2 for a, b, y, _ in t]))  # noqa: E731
    return (f"; gain fit on validation: meta-ROI c {c_meta:.2f} -> test {rmse(c_meta):.4f}, brain c {c_brain:.2f} -> "
            f"test {rmse(c_brain):.4f} (c 1: {rmse(1.0):.4f})")


def stage_fit(net, subjects, multiple, label="test") -> str:
    """Spearman of the severity path's output with the disease stage on the test subjects (--severity-head)."""
    if not isinstance(net, SeverityPath):
        return ""
    from scipy.stats import spearmanr

    with torch.no_grad():
        s = [float(net.severity(pad(t, multiple)[0])) for t, _ in subjects]
    mse = float(np.mean(np.square(np.array(s) - [v for _, v in subjects])))
    return f"; {label} stage Spearman {spearmanr(s, [v for _, v in subjects])[0]:.2f}, MSE {mse:.3f}"


def stage_loss(net, dev, rng, multiple) -> torch.Tensor:
    """MSE of the severity path against the disease stage on 4 random labelled training T1s (PET or not)."""
    batch = [dev[int(i)] for i in rng.integers(len(dev), size=4)]
    xs = torch.cat([pad(t, multiple)[0] for t, _ in batch])
    return (net.severity(xs) - torch.tensor([v for _, v in batch])).square().mean()


def pretrain_severity(net, dev, val_stage, multiple, steps, lr, seed, test_stage, every=25) -> None:
    """Train the severity encoder alone on the stage labels (batches of 4 training T1s), keep the step with the
    lowest validation stage MSE, then freeze it: the maps are then fit to PET given an honest T1 severity."""
    enc, rng = net.encoder, np.random.default_rng(seed + 7)
    opt = torch.optim.Adam(enc.parameters(), lr=lr, betas=(0.5, 0.999))
    xs_val = torch.cat([pad(t, multiple)[0] for t, _ in val_stage])
    y_val = torch.tensor([v for _, v in val_stage])
    best = (float("inf"), 0, copy.deepcopy(enc.state_dict()))
    for step in range(1, steps + 1):
        enc.train()
        loss = stage_loss(net, dev, rng, multiple)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % every == 0:
            enc.eval()
            with torch.no_grad():
                mse = float((net.severity(xs_val) - y_val).square().mean())
            if mse < best[0]:
                best = (mse, step, copy.deepcopy(enc.state_dict()))
    enc.load_state_dict(best[2])
    enc.eval()
    for p in enc.parameters():
        p.requires_grad_(False)
    print(f"severity path: best validation stage MSE {best[0]:.4f} at step {best[1]} of {steps}"
          f"{stage_fit(net, test_stage, multiple)}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--results", type=Path, default=Path("results"))
    ap.add_argument("--config", type=Path, default=Path("results/config/effective.yaml"))
    ap.add_argument("--fold", type=int, default=0)
    ap.add_argument("--norm", default="instance", choices=["instance", "batch", "none"])
    ap.add_argument("--ngf", type=int, default=8)
    ap.add_argument("--num-downs", type=int, default=4)
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--every", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--loss", default="l1", choices=["l1", "mse"])
    ap.add_argument("--shuffle-stages", action="store_true", help="negative control: permute the stage labels")
    ap.add_argument("--severity-head", type=float, default=0.0,
                    help="> 0: add the subject-level severity path, its stage loss with this weight")
    ap.add_argument("--pretrain-severity", type=int, default=0,
                    help="> 0: train the severity path alone on the stage labels for up to this many steps, keep its "
                         "step best by validation stage MSE, freeze it, then train the maps (needs --severity-head)")
    ap.add_argument("--multiscale", type=float, default=0.0,
                    help="> 0: add this weight times the L1 of 4^3- and 8^3-voxel block means (regional offsets)")
    ap.add_argument("--ema", type=float, default=0.0,
                    help="> 0: score an exponential moving average of the weights with this decay (against oscillation)")
    ap.add_argument("--region-encoder", action="store_true",
                    help="the severity encoder is a linear readout of the T1 means in mrisynth.anatomy's regions")
    ap.add_argument("--encoder-lr", type=float, default=0.0, help="> 0: the severity encoder's own learning rate")
    ap.add_argument("--encoder-clip", type=float, default=0.0, help="> 0: clip the severity encoder's gradient norm")
    ap.add_argument("--augment", type=float, nargs=2, default=(0.05, 0.02), metavar=("SCALE", "SHIFT"),
                    help="the MRI intensity augmentation x * (1 + U(-scale, scale)) + U(-shift, shift) (the pipeline's)")
    ap.add_argument("--stages-without-pet", action="store_true",
                    help="the stage loss only on the training MRIs without PET (the maps' PET subjects get no stage label)")
    ap.add_argument("--encoder-dropout", type=float, default=0.5, help="dropout before the severity encoder's linear layer")
    ap.add_argument("--trace", type=int, default=0, help="print the stage MSE every 25 steps up to this step")
    ap.add_argument("--oracle-targets", action="store_true",
                    help="known-signal case: train and score against the phantom's achievable PET (no unpredictable part)")
    ap.add_argument("--all-truth", action="store_true", help="train on every non-test subject's true PET (probe of data size)")
    args = ap.parse_args()

    import yaml

    from mrisynth.synthesis.train import start_at_template
    from mrisynth.zoo.base import ema_update
    from mrisynth.zoo.nets import UnetGenerator, init_weights

    torch.manual_seed(args.seed)
    cfg = yaml.safe_load(args.config.read_text())
    mapping, pairs, val, test, roi, dev, test_stage, val_stage, affine, train24 = load_fold(cfg, args.results, args.fold, args.all_truth, args.oracle_targets,
                                                                                     args.stages_without_pet)
    multiple = 2 ** args.num_downs
    out_c = 2 if args.severity_head else 1
    net = init_weights(UnetGenerator(1, out_c, args.num_downs, args.ngf, args.norm, False, 3), "normal", 0.02)
    start_at_template(net)
    if args.severity_head:
        net = SeverityPath(net, 1, 8, 3, args.encoder_dropout)  # the pipeline's severity path (encoder: PyTorch's default init)
    if args.region_encoder:
        from mrisynth.anatomy import REGIONS, region_mask

        shape = tuple(pad(pairs[0][0], multiple)[0].shape[2:])
        masks = torch.stack([torch.from_numpy(region_mask(n, affine, shape)).float() for n in sorted(REGIONS)])
        net.encoder = RegionReadout(masks, torch.cat([pad(t, multiple)[0] for t, _ in dev]))
    if args.shuffle_stages:  # negative control: the stage labels permuted among the training subjects
        perm = np.random.default_rng(args.seed + 1).permutation(len(dev))
        dev = [(t, dev[int(j)][1]) for (t, _), j in zip(dev, perm)]
    if args.pretrain_severity:
        pretrain_severity(net, dev, val_stage, multiple, args.pretrain_severity, args.lr, args.seed, test_stage)
    params = [p for p in net.parameters() if p.requires_grad]
    if args.encoder_lr:
        enc = {id(p) for p in net.encoder.parameters()}
        params = [{"params": [p for p in params if id(p) not in enc]},
                  {"params": [p for p in params if id(p) in enc], "lr": args.encoder_lr}]
    opt = torch.optim.Adam(params, lr=args.lr, betas=(0.5, 0.999))
    print(f"fold {args.fold}: {len(pairs)} train, {len(val)} val, {len(test)} test; norm {args.norm}, lr {args.lr}, "
          f"loss {args.loss}; meta-ROI {int(roi.sum())} voxels", flush=True)
    print(f"step 0: val {scores(net.eval(), mapping, val, roi, multiple)}; test {scores(net, mapping, test, roi, multiple)} "
          "(the linear map)", flush=True)
    scored = copy.deepcopy(net) if args.ema else net  # what is scored: the EMA copy, or the net itself
    rng, t0 = np.random.default_rng(args.seed), time.process_time()
    losses = []
    for step in range(1, args.steps + 1):
        net.train()
        if args.pretrain_severity:
            net.encoder.eval()  # frozen: no dropout
        t1n, target = pairs[int(rng.integers(len(pairs)))]
        x, _ = pad(t1n, multiple)
        y, _ = pad(target, multiple)
        scale = 1.0 + (2 * rng.random() - 1) * args.augment[0]
        x = (x * scale + (2 * rng.random() - 1) * args.augment[1]).clamp(-1, 1)
        pred = net(x)
        diff = pred - y
        loss = diff.abs().mean() if args.loss == "l1" else diff.square().mean()
        for k in (4, 8) if args.multiscale else ():  # L1 of regional means: voxel noise averages out, offsets stay
            pooled = torch.nn.functional.avg_pool3d(pred, k) - torch.nn.functional.avg_pool3d(y, k)
            loss = loss + args.multiscale * pooled.abs().mean()
        if args.severity_head and not args.pretrain_severity:
            st = stage_loss(net, dev, rng, multiple)
            loss = loss + args.severity_head * st
            if args.trace and step <= args.trace and step % 25 == 0:
                gn = torch.sqrt(sum((p.grad ** 2).sum() for p in net.encoder.parameters() if p.grad is not None)) if step > 1 else 0
                print(f"  step {step}: stage MSE {float(st.detach()):.4f}, previous encoder grad norm {float(gn):.3g}", flush=True)
        opt.zero_grad()
        loss.backward()
        if args.encoder_clip:
            torch.nn.utils.clip_grad_norm_(net.encoder.parameters(), args.encoder_clip)
        opt.step()
        losses.append(float(loss.detach()))
        if args.ema:
            ema_update(scored, net, args.ema)
        if step % args.every == 0:
            scored.eval()
            print(f"step {step}: train L1 {np.mean(losses[-args.every:]):.5f}; 24 training subjects "
                  f"{scores(scored, mapping, train24, roi, multiple)}; val {scores(scored, mapping, val, roi, multiple)}; "
                  f"test {scores(scored, mapping, test, roi, multiple)}{stage_fit(scored, test_stage, multiple)}"
                  f"{stage_fit(scored, dev, multiple, 'train')}"
                  f"{severity_gain(scored, mapping, pairs, val, test, roi, multiple)}  ({time.process_time() - t0:.0f} CPU-s)", flush=True)


if __name__ == "__main__":
    main()
