"""pds-mri: synthesise a missing brain-MRI modality with PDS (Shen et al., arXiv 2511.04963)."""

__version__ = "0.1.0"
