//! PodDisruptionBudget `NAME`: voluntary disruptions (drains, evictions, autoscalers) may take down
//! at most a minority of the *current Raft voters*, so the cluster keeps a quorum: 1→0, 2→0, 3→1,
//! 4→1, 5→2. The budget follows the voters the leader reports (`membership::protected_voters`),
//! not `spec.replicas`: while 3→5 adds two learners the budget stays at 1 until they are promoted,
//! and while 1→3 runs it stays at 0. Counting every pod against `(voters - 1) / 2` keeps that
//! safe whether learners are ready or not.
//!
//! `unhealthyPodEvictionPolicy: AlwaysAllow`: a pod that is not ready (crash loop, bad image) may
//! always be evicted, so a broken broker never blocks a node drain, and never a quorum.

use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::{object_meta, selector_labels, Names};
use crate::crd::JumpnetCluster;

/// Pods that may be down at once while a majority of `voters` stays up.
pub fn max_unavailable(voters: u32) -> u32 {
    voters.saturating_sub(1) / 2
}

/// The budget for a cluster whose Raft configuration has `voters` voters to protect.
pub fn pod_disruption_budget(
    jc: &JumpnetCluster,
    names: &Names,
    voters: u32,
) -> PodDisruptionBudget {
    PodDisruptionBudget {
        metadata: object_meta(jc, names, names.name.clone()),
        spec: Some(PodDisruptionBudgetSpec {
            max_unavailable: Some(IntOrString::Int(max_unavailable(voters) as i32)),
            selector: Some(LabelSelector {
                match_labels: Some(selector_labels(&names.name)),
                ..LabelSelector::default()
            }),
            unhealthy_pod_eviction_policy: Some("AlwaysAllow".into()),
            ..PodDisruptionBudgetSpec::default()
        }),
        status: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::test_support::cluster;

    #[test]
    fn max_unavailable_never_loses_quorum() {
        let expected = [
            (0, 0),
            (1, 0),
            (2, 0),
            (3, 1),
            (4, 1),
            (5, 2),
            (6, 2),
            (7, 3),
            (9, 4),
        ];
        for (n, want) in expected {
            assert_eq!(max_unavailable(n), want, "voters {n}");
            if n > 0 {
                let remaining = n - max_unavailable(n);
                assert!(
                    remaining > n / 2,
                    "voters {n}: {remaining} left is no majority"
                );
            }
        }
    }

    #[test]
    fn budget_follows_the_voters_not_spec_replicas() {
        let jc = cluster("replicas: 5");
        let names = Names::of(&jc, "cluster.local").unwrap();
        // 3 voters while two learners join: one pod, not two
        let pdb = pod_disruption_budget(&jc, &names, 3);
        assert_eq!(pdb.metadata.name.as_deref(), Some("demo"));
        let spec = pdb.spec.unwrap();
        assert_eq!(spec.max_unavailable, Some(IntOrString::Int(1)));
        assert_eq!(spec.min_available, None);
        assert_eq!(
            spec.unhealthy_pod_eviction_policy.as_deref(),
            Some("AlwaysAllow")
        );
        assert_eq!(
            spec.selector.unwrap().match_labels.unwrap(),
            selector_labels("demo")
        );
        let spec = pod_disruption_budget(&jc, &names, 1).spec.unwrap();
        assert_eq!(spec.max_unavailable, Some(IntOrString::Int(0)));
    }
}
