"""Training: data items, subject-level splits, checkpoints, EMA, LR schedule, torchrun helpers, the loop.

Import the submodules directly (`from pds_mri.training.trainer import Trainer`); this package imports
nothing heavy so that `pds --help` stays fast.
"""
