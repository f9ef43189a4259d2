"""Disease-informed priors that a synthesis may use without the subject's label, fitted on training subjects."""
