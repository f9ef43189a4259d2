"""The simulated BIDS cohort (`pds simulate`): a seeded NC / MCI / AD test bed, not a claim about brains.

Both modalities of a subject derive from one anatomy and one disease severity (see `anatomy`), so
cross-modal synthesis is meaningful and disease patterns are learnable.
"""

from pds_mri.simulate.cohort import (
    DIAGNOSES,
    SubjectPlan,
    SubjectScans,
    plan_subject,
    simulate_cohort,
    simulate_subject,
)

__all__ = ["DIAGNOSES", "SubjectPlan", "SubjectScans", "plan_subject", "simulate_cohort", "simulate_subject"]
