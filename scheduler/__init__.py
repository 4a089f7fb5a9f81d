"""kube-scheduler: filter and score plugins, assume-then-bind (arrives with the scheduler issue)."""
