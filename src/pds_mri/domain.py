"""The tool's shared vocabulary: every value a direction, diagnosis, map, preset or option choice can take.

Light on purpose (no torch, no numpy): the command line checks choices at parse time from these, and every
layer spells them the same way (tests/test_domain.py keeps the heavier modules' own copies equal to these).
"""

from __future__ import annotations

DIRECTIONS = ("fmri2dmri", "dmri2fmri")
DIRECTION_CHOICES = ("auto", *DIRECTIONS)  # `pds synthesize --direction`: auto = what each subject lacks
DIAGNOSES = ("NC", "MCI", "AD")
MODALITIES = ("fmri", "dmri")
FMRI_MAPS = ("mean", "alff", "falff")
DMRI_MAPS = ("mean", "fa", "md")
PRESETS = ("cpu", "paper")
REGISTRATIONS = ("auto", "none", "affine")
SYNTHESIS_MODES = ("mean", "sample")
CLASSIFIERS = ("pca-svm", "logreg")
TRAIN_STAGES = ("all", "1", "2")
DEVICES = ("auto", "cpu", "cuda", "mps")  # auto: CUDA when available, else CPU
