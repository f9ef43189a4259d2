"""One module per command: each composes the libraries (io, preprocess, models, ...) into a job."""
