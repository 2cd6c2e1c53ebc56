//! PodDisruptionBudget `NAME`: voluntary disruptions (drains, evictions) may take down at most a
//! minority of the voters, so the Raft cluster keeps a quorum: n=1→0, 2→0, 3→1, 4→1, 5→2.

use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::{object_meta, selector_labels, Names};
use crate::crd::JumpnetCluster;

/// Pods that may be down at once while a majority of `replicas` voters stays up.
pub fn max_unavailable(replicas: u32) -> u32 {
    replicas.saturating_sub(1) / 2
}

pub fn pod_disruption_budget(jc: &JumpnetCluster, names: &Names) -> PodDisruptionBudget {
    PodDisruptionBudget {
        metadata: object_meta(jc, names, names.name.clone()),
        spec: Some(PodDisruptionBudgetSpec {
            max_unavailable: Some(IntOrString::Int(
                max_unavailable(jc.spec.replica_count()) as i32
            )),
            selector: Some(LabelSelector {
                match_labels: Some(selector_labels(&names.name)),
                ..LabelSelector::default()
            }),
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
            assert_eq!(max_unavailable(n), want, "replicas {n}");
            let remaining = n - max_unavailable(n);
            assert!(
                remaining > n / 2,
                "replicas {n}: {remaining} left is no majority"
            );
        }
    }

    #[test]
    fn pdb_selects_broker_pods_with_computed_budget() {
        let jc = cluster("replicas: 5");
        let names = Names::of(&jc, "cluster.local").unwrap();
        let pdb = pod_disruption_budget(&jc, &names);
        assert_eq!(pdb.metadata.name.as_deref(), Some("demo"));
        let spec = pdb.spec.unwrap();
        assert_eq!(spec.max_unavailable, Some(IntOrString::Int(2)));
        assert_eq!(spec.min_available, None);
        assert_eq!(
            spec.selector.unwrap().match_labels.unwrap(),
            selector_labels("demo")
        );
    }
}
