"""Pure computation of the per-subject maps, grids, normalisation, masks and priors (docs/maps.md)."""
