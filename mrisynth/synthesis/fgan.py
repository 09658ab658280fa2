"""FGAN: the feature-consistent, diagnosis-oriented MRI -> PET GAN trained jointly with a DSNet.

After Pan, Liu, Xia, Shen (TPAMI 2022; no public code): the zoo's Pix2Pix (3D U-Net / ResNet generator,
conditional PatchGAN, adversarial + L1) plus a DSNet (:mod:`mrisynth.zoo.nets.dsnet`, MRI and PET
branches) that diagnoses from (MRI, PET). The generator is also pushed to make the DSNet PET-branch
features of its synthetic PET match those of the real PET, at the layers ``feature_layers``, optionally
weighted by the real PET's specificity map (where the DSNet finds the disease), and, with ``cls_weight``,
to let the DSNet diagnose correctly from the synthetic PET.

Schedule (all inside ``train_step``, so the zoo trainer's resume, checkpoints and bf16 apply): the first
``pretrain_steps`` steps train only the DSNet on real (MRI, PET, label) of the training subjects; then
each step updates D, G and, every ``dsnet_every`` steps, the DSNet on the real pair (joint training).
Batches are ``(mri, pet, label)`` (then the severity path's two items, with ``severity_weight``);
:class:`LabelledPairs` adds the label to the synthesis training pairs.

Measured on the 24^3 test phantom (48 subjects, fold 0 of 3, 300 steps): with the feature loss from the
first joint step (weight 1 or 10, DSNet joint or frozen) the generator never left its initial output
(the population template, SSIM 0.62) while Pix2Pix and the ablation reached 0.86; started after 160 joint
steps (``feature_start``) FGAN reached SSIM 0.857 (ablation 0.856, Pix2Pix 0.861). The DSNet classification
loss on synthetic PET from the first step stalled it the same way, so ``feature_start`` gates both.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from mrisynth.zoo.losses import generator_loss
from mrisynth.zoo.models.pix2pix import Pix2Pix
from mrisynth.zoo.nets.dsnet import DSNet

MRI, PET = 0, 1  # DSNet branch indices


class FGAN(Pix2Pix):
    """Pix2Pix keywords (generator, ngf, ndf, num_downs, norms, lambda_l1, ...) plus:

    ``feature_weight``: weight of the feature-consistency loss (0 = the plain Pix2Pix generator loss,
    the ablation); ``feature_layers``: DSNet PET-branch layers compared (0 = stem, i = stage i);
    ``specificity_mix``: per-location weights ``(1 - m) + m * S * |S|`` with S the real PET's
    specificity map resized to the layer (0 = uniform, 1 = the map alone; mean weight 1 either way);
    ``cls_weight``: DSNet cross-entropy on (MRI, synthetic PET) in the generator loss;
    ``pretrain_steps``, ``dsnet_every``, ``feature_start`` (joint steps before the DSNet losses of the
    generator, feature consistency and classification, join): the schedule; ``dsnet_*``: the DSNet (see :class:`DSNet`;
    ``dsnet_pool``: its input is average-pooled by this factor, which keeps a step <= 1.5x a Pix2Pix step).
    """

    def __init__(self, feature_weight: float = 10.0, feature_layers: tuple[int, ...] = (1, 2),
                 specificity_mix: float = 0.5, cls_weight: float = 0.0, pretrain_steps: int = 50, feature_start: int = 0,
                 dsnet_every: int = 1, dsnet_channels: int = 8, dsnet_stages: int = 2, dsnet_lr: float = 1e-3,
                 dsnet_temperature: float = 10.0, dsnet_pool: int = 2, n_classes: int = 2, **pix2pix):
        super().__init__(**pix2pix)
        if not 0.0 <= specificity_mix <= 1.0:
            raise ValueError(f"specificity_mix must be in [0, 1], got {specificity_mix}")
        if dsnet_every < 1 or pretrain_steps < 0:
            raise ValueError("dsnet_every must be >= 1 and pretrain_steps >= 0")
        dims = int(pix2pix.get("spatial_dims", 2))
        in_a, in_b = int(pix2pix.get("in_channels", 1)), int(pix2pix.get("out_channels", 1))
        if in_a != in_b:
            raise ValueError("the DSNet branches share one input width: in_channels must equal out_channels")
        dsnet = DSNet(2, in_a, n_classes, dsnet_channels, dsnet_stages, "instance", dsnet_temperature, 0.0, dims, dsnet_pool)
        bad = [i for i in feature_layers if not 0 <= int(i) < dsnet.n_layers]
        if bad:
            raise ValueError(f"feature_layers {bad} out of range: the DSNet has layers 0..{dsnet.n_layers - 1}")
        self.nets["C"] = dsnet  # PyTorch's default init (Kaiming-uniform convs)
        self.optimizers["C"] = torch.optim.Adam(dsnet.parameters(), lr=dsnet_lr, betas=(0.9, 0.999))
        self.feature_weight, self.feature_layers = float(feature_weight), tuple(int(i) for i in feature_layers)
        self.specificity_mix, self.cls_weight = float(specificity_mix), float(cls_weight)
        self.pretrain_steps, self.dsnet_every, self.feature_start = int(pretrain_steps), int(dsnet_every), int(feature_start)

    # ----------------------------------------------------------------- losses
    def dsnet_fp32(self):
        """The DSNet runs in fp32 even under the trainer's bf16 autocast: its convs are small, and oneDNN's
        bf16 path made a DSNet update 5x slower than fp32 on CPU (benchmarks/fgan_step.py)."""
        return torch.autocast(self.device.type, enabled=False)

    def c_loss(self, a, b, y):
        with self.dsnet_fp32():
            logits = self.nets["C"](a.float(), b.float())
        loss = F.cross_entropy(logits.float(), y)
        return loss, {"c_loss": loss.detach(), "c_acc": (logits.argmax(1) == y).float().mean()}

    def feature_consistency(self, fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        """Mean over ``feature_layers`` of the (specificity-weighted) L1 distance of PET-branch features."""
        dsnet = self.nets["C"]
        with torch.no_grad(), self.dsnet_fp32():
            target = dsnet.branch(PET, real.float())
        with self.dsnet_fp32():
            out = dsnet.branch(PET, fake.float())
        total = fake.new_zeros((), dtype=torch.float32)
        for i in self.feature_layers:
            diff = (out.features[i].float() - target.features[i].float()).abs().mean(1, keepdim=True)
            if self.specificity_mix:
                s = target.specificity
                s = s * s[0, 0].numel()  # mean 1 per sample
                s = F.interpolate(s, size=diff.shape[2:], mode="trilinear" if diff.dim() == 5 else "bilinear", align_corners=False)
                diff = diff * ((1.0 - self.specificity_mix) + self.specificity_mix * s)
            total = total + diff.mean()
        return total / len(self.feature_layers)

    def g_loss(self, a, b, y=None, *extra):
        fake, rec, logs = self.reconstruction(a, b)  # Pix2Pix's L1 (or energy score with its diversity option)
        adv = generator_loss(self.loss, self.nets["D"](torch.cat([a, fake], 1)))
        loss = self.gan_weight * adv + self.lambda_l1 * rec
        logs = {"g_adv": adv.detach(), **logs}
        dsnet_losses = self.iteration >= self.warmup_end + self.feature_start
        if self.feature_weight and dsnet_losses:
            fc = self.feature_consistency(fake, b)
            loss = loss + self.feature_weight * fc
            logs["g_fc"] = fc.detach()
        if self.cls_weight and dsnet_losses:
            with self.dsnet_fp32():
                cls = F.cross_entropy(self.nets["C"](a.float(), fake.float()), y)
            loss = loss + self.cls_weight * cls
            logs["g_cls"] = cls.detach()
        return self.add_stage_loss(loss, logs, extra)  # Pix2Pix's severity path, if configured

    # ----------------------------------------------------------------- schedule
    @property
    def warmup_end(self) -> int:
        """The first joint step: after the DSNet's pretraining and then Pix2Pix's mean warm-up (``mean_steps``)."""
        return self.pretrain_steps + self.mean_steps

    def train_step(self, batch):
        a, b, y, *extra = self.prepare(batch)  # extra: the severity path's (labelled images, stages), if any
        if self._preview is None:
            self._preview = (a[:8].detach().clone(), b[:8].detach().clone())
        self.train()
        if self.iteration < self.pretrain_steps:
            return self.optimize("C", self.c_loss, a, b, y)
        if self.iteration < self.warmup_end:  # Pix2Pix's mean warm-up (mean_steps), after the DSNet's
            return self.optimize("G", self.mean_loss, a, b, y, *extra)
        logs = self.optimize("D", self.d_loss, a, b)
        logs.update(self.optimize("G", self.g_loss, a, b, y, *extra))
        if (self.iteration - self.warmup_end) % self.dsnet_every == 0:
            logs.update(self.optimize("C", self.c_loss, a, b, y))
        return logs


class LabelledPairs(Dataset):
    """``(mri, pet)`` items of ``pairs`` with the subject's class label appended (int64 scalar)."""

    def __init__(self, pairs: Dataset, labels: list[int]):
        if len(pairs) != len(labels):
            raise ValueError(f"{len(pairs)} pairs but {len(labels)} labels")
        self.pairs, self.labels = pairs, [int(v) for v in labels]

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, i: int):
        return (*self.pairs[i], torch.tensor(self.labels[i]))
