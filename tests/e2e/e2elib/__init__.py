"""Helpers of the end-to-end suite (tests/e2e): the Kubernetes API as a user sees it, the brokers
through their pods and the client Service, background publishers and samplers, failure dumps.

Modules:
    kube     -- kubectl (what a user types) and a `kubectl proxy` for fast reads of the API
    access   -- reaching broker pods and the client Service from the test host (pod IPs or port-forward)
    cluster  -- one JumpnetCluster: status, pods, broker views, the operator's Events, waiting for Ready
    traffic  -- a background publisher that counts failures and keeps what was acknowledged
    monitor  -- a background sampler of pods, StatefulSet, status and the Raft view, for invariants
    dump     -- what a developer needs when a scenario fails
"""
