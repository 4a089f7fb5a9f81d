"""kube-scheduler: a queue of pending pods, filter and score plugins, assume-then-bind, leader election."""
