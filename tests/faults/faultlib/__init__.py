"""The fault campaign's library: private networks (netns), real jumpnet nodes, the fault filesystem,
client workloads that record a history, and the checker that judges it.

Modules:
    netns     -- Net: a namespace per node plus the clients' one; cut/heal peer links with iptables
    cluster   -- JumpnetNode / Cluster: real `jumpnet serve` processes in those namespaces
    faultfs   -- FaultFs: a jnf-faultfs mount (power loss: drop everything not fsynced)
    history   -- what clients sent and saw (attempts with outcomes, strong reads, fault events)
    workload  -- producers with producer ids, probes, strong readers
    checker   -- the guarantees, each a function over a history and the final logs
    results   -- check results collected for the summary table and target/faults/results.json
"""
