"""One action start to finish: the job, its locks and its one deadline."""
