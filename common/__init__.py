"""Shared by every kubelab daemon: API kinds, client, informer, work queue, controller base."""
