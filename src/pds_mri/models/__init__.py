"""PDS networks: denoiser, pattern encoder, conditioning, refiners, losses and the PDS wrapper.

Import the submodules directly (`from pds_mri.models.pds import PDS`, `from pds_mri.models.factory import
build_pds`); this package imports nothing heavy, so reading a config (`models/config.py`) never loads torch.
"""
