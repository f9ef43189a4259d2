"""Baselines of docs/evaluation.md, built from the PDS denoiser's blocks so that parameter counts match.

* ``unet``: :class:`~pds_mri.models.baselines.unet.RegressionUNet3D` trained by ``RegressionObjective``
  (masked L2 or L1, one pass).
* ``pix2pix3d``: the same generator + ``PatchDiscriminator3D``, trained by ``Pix2PixObjective``.
* ``ddpm`` needs no code here: it is PDS with every PDS component off (see ``pds_mri.workflows.run``).

Import the submodules directly; this package imports nothing heavy.
"""
