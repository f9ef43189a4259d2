"""The report pages, one per kind of directory `pds report` accepts."""
