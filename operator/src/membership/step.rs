//! The steps the membership logic can choose, with what they mean to humans: the reason
//! (conditions, events, metrics), the message, whether it signals degradation, and the phase.

/// Why removing a member.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RemoveReason {
    ScaleDown,
    /// Its pod came back without data; it is re-added as a fresh learner afterwards.
    LostData,
}

/// Why moving leadership.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    ScaleDown,
    RollingUpdate,
}

/// Why the quorum-loss recovery cannot go ahead.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecoveryBlock {
    /// No cluster id is recorded or found: there is nothing to recover.
    NoCluster,
    /// The named pod does not run or does not answer with this cluster's data.
    NotAnswering,
    /// Another pod holds a longer log: recovering from the named one would lose entries.
    NotMostRecent { better: u64 },
}

/// Why nothing is done this time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Wait {
    PodsStarting,
    NoLeader,
    SplitClusters {
        ids: Vec<String>,
    },
    ForeignData {
        ordinal: u64,
        cluster_id: String,
    },
    /// status.clusterId is recorded but every pod answered without any cluster data.
    ClusterDataMissing,
    Unhealthy {
        ordinal: u64,
    },
    QuorumAtRisk {
        id: u64,
    },
    LearnerCatchingUp {
        id: u64,
    },
    NoTransferTarget,
    StatefulSetSyncing,
    PodRestarting {
        ordinal: u64,
    },
    PodNotReady {
        ordinal: u64,
    },
    /// A pod restarted on the current template has not been ready for the rollout's timeout.
    RolloutStuck {
        ordinal: u64,
        after_secs: u64,
    },
    RecoveryBlocked {
        ordinal: u64,
        why: RecoveryBlock,
    },
}

/// The one next step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    Bootstrap {
        ordinal: u64,
    },
    AddLearner {
        id: u64,
    },
    Promote {
        id: u64,
    },
    RemoveMember {
        id: u64,
        reason: RemoveReason,
    },
    TransferLeader {
        from: u64,
        to: u64,
        purpose: Purpose,
    },
    RestartPod {
        ordinal: u64,
    },
    /// Delete these pods together (the cluster secret changed).
    RestartAll {
        ordinals: Vec<u64>,
    },
    /// Quorum-loss recovery: the pod makes itself the only voter.
    ForceNewCluster {
        ordinal: u64,
    },
    /// Quorum-loss recovery: delete the pod's PVC (and the pod) so it rejoins empty.
    DiscardData {
        ordinal: u64,
    },
    /// Quorum-loss recovery finished (or not needed): the annotation is removed.
    RecoveryDone {
        ordinal: u64,
    },
    Wait(Wait),
    Converged,
}

impl Step {
    /// CamelCase reason for conditions and events.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Bootstrap { .. } => "Bootstrap",
            Self::AddLearner { .. } => "AddLearner",
            Self::Promote { .. } => "PromoteLearner",
            Self::RemoveMember {
                reason: RemoveReason::ScaleDown,
                ..
            } => "RemoveMember",
            Self::RemoveMember {
                reason: RemoveReason::LostData,
                ..
            } => "RemoveMemberWithLostData",
            Self::TransferLeader { .. } => "TransferLeader",
            Self::RestartPod { .. } => "RestartPod",
            Self::RestartAll { .. } => "RestartAllPods",
            Self::ForceNewCluster { .. } => "ForceNewCluster",
            Self::DiscardData { .. } => "DiscardStaleData",
            Self::RecoveryDone { .. } => "ForceNewClusterDone",
            Self::Converged => "ClusterReady",
            Self::Wait(w) => match w {
                Wait::PodsStarting => "WaitingForPods",
                Wait::NoLeader => "QuorumLost",
                Wait::SplitClusters { .. } => "SplitClusters",
                Wait::ForeignData { .. } => "ForeignClusterData",
                Wait::ClusterDataMissing => "ClusterDataMissing",
                Wait::Unhealthy { .. } => "WaitingForHealthyVoters",
                Wait::QuorumAtRisk { .. } => "QuorumAtRisk",
                Wait::LearnerCatchingUp { .. } => "LearnerCatchingUp",
                Wait::NoTransferTarget => "NoLeadershipTransferTarget",
                Wait::StatefulSetSyncing => "StatefulSetSyncing",
                Wait::PodRestarting { .. } => "PodRestarting",
                Wait::PodNotReady { .. } => "PodNotReady",
                Wait::RolloutStuck { .. } => "RolloutStuck",
                Wait::RecoveryBlocked { .. } => "ForceNewClusterBlocked",
            },
        }
    }

    /// A human sentence for condition messages and event notes.
    pub fn message(&self, pod: impl Fn(u64) -> String) -> String {
        match self {
            Self::Bootstrap { ordinal } => format!("bootstrapping the Raft cluster on {}", pod(*ordinal)),
            Self::AddLearner { id } => format!("adding {} as a learner", pod(*id)),
            Self::Promote { id } => format!("promoting learner {} to voter", pod(*id)),
            Self::RemoveMember { id, reason: RemoveReason::ScaleDown } => {
                format!("removing {} from Raft before shrinking the StatefulSet", pod(*id))
            }
            Self::RemoveMember { id, reason: RemoveReason::LostData } => {
                format!("removing {} from Raft: its pod lost its data; it will rejoin as a learner", pod(*id))
            }
            Self::TransferLeader { from, to, purpose } => format!(
                "moving leadership from {} to {} ({})",
                pod(*from),
                pod(*to),
                match purpose {
                    Purpose::ScaleDown => "the leader is being removed",
                    Purpose::RollingUpdate => "the leader restarts last",
                }
            ),
            Self::RestartPod { ordinal } => format!("restarting {} on the current pod template", pod(*ordinal)),
            Self::RestartAll { ordinals } => format!(
                "restarting {} together: the cluster secret changed and brokers with different secrets cannot talk; unavailable until they are back",
                ordinals.iter().map(|o| pod(*o)).collect::<Vec<_>>().join(", ")
            ),
            Self::ForceNewCluster { ordinal } => format!(
                "quorum-loss recovery (jumpnet.io/force-new-cluster): {} becomes the only voter; the other brokers rejoin empty",
                pod(*ordinal)
            ),
            Self::DiscardData { ordinal } => format!(
                "quorum-loss recovery: deleting the volume of {}: it holds the old configuration's data and rejoins empty, as a learner",
                pod(*ordinal)
            ),
            Self::RecoveryDone { ordinal } => format!(
                "quorum-loss recovery from {} done (or no longer needed): annotation jumpnet.io/force-new-cluster removed",
                pod(*ordinal)
            ),
            Self::Converged => "all members are voters, ready and up to date".into(),
            Self::Wait(w) => match w {
                Wait::PodsStarting => "waiting for broker pods to start and answer".into(),
                Wait::NoLeader => "no broker reports a Raft leader: a majority of the voters is down or cut off (docs/runbooks.md#jumpnetnoleader)".into(),
                Wait::SplitClusters { ids } => format!("pods belong to different Raft clusters: {}", ids.join(", ")),
                Wait::ForeignData { ordinal, cluster_id } => format!(
                    "{} holds data of another cluster ({cluster_id}); delete its PVC to let it join",
                    pod(*ordinal)
                ),
                Wait::ClusterDataMissing => "status.clusterId is recorded but no pod holds the cluster's data; refusing to bootstrap a new cluster".into(),
                Wait::Unhealthy { ordinal } => format!("waiting for voter {} to be ready before changing membership", pod(*ordinal)),
                Wait::QuorumAtRisk { id } => format!("removing {} now would lose quorum", pod(*id)),
                Wait::LearnerCatchingUp { id } => format!("waiting for learner {} to catch up", pod(*id)),
                Wait::NoTransferTarget => "no ready, caught-up voter can take over leadership".into(),
                Wait::StatefulSetSyncing => "waiting for the StatefulSet controller to observe the new template".into(),
                Wait::PodRestarting { ordinal } => format!("waiting for {} to restart and catch up", pod(*ordinal)),
                Wait::PodNotReady { ordinal } => format!("{} is not ready", pod(*ordinal)),
                Wait::RolloutStuck { ordinal, after_secs } => format!(
                    "{} runs the current pod template and has not been ready for {after_secs}s: the roll stopped; fix or revert the change (e.g. spec.image) and it resumes",
                    pod(*ordinal)
                ),
                Wait::RecoveryBlocked { ordinal, why } => match why {
                    RecoveryBlock::NoCluster => "jumpnet.io/force-new-cluster: no cluster id is recorded; nothing to recover".into(),
                    RecoveryBlock::NotAnswering => format!(
                        "jumpnet.io/force-new-cluster: waiting for {} to run and answer with this cluster's data",
                        pod(*ordinal)
                    ),
                    RecoveryBlock::NotMostRecent { better } => format!(
                        "jumpnet.io/force-new-cluster: {} holds a longer log than {}; recovering from {} would lose entries (name it instead)",
                        pod(*better),
                        pod(*ordinal),
                        pod(*ordinal)
                    ),
                },
            },
        }
    }

    /// Something is wrong that may need a human.
    pub fn degraded(&self) -> bool {
        matches!(
            self,
            Self::RemoveMember {
                reason: RemoveReason::LostData,
                ..
            } | Self::ForceNewCluster { .. }
                | Self::DiscardData { .. }
                | Self::Wait(
                    Wait::NoLeader
                        | Wait::SplitClusters { .. }
                        | Wait::ForeignData { .. }
                        | Wait::ClusterDataMissing
                        | Wait::QuorumAtRisk { .. }
                        | Wait::NoTransferTarget
                        | Wait::PodNotReady { .. }
                        | Wait::RolloutStuck { .. }
                        | Wait::RecoveryBlocked { .. }
                )
        )
    }

    /// The pod this step is about, if one.
    pub fn pod(&self) -> Option<u64> {
        match self {
            Self::Bootstrap { ordinal }
            | Self::RestartPod { ordinal }
            | Self::ForceNewCluster { ordinal }
            | Self::DiscardData { ordinal }
            | Self::RecoveryDone { ordinal } => Some(*ordinal),
            Self::AddLearner { id } | Self::Promote { id } | Self::RemoveMember { id, .. } => {
                Some(*id)
            }
            Self::TransferLeader { to, .. } => Some(*to),
            Self::RestartAll { .. } | Self::Converged => None,
            Self::Wait(w) => match w {
                Wait::Unhealthy { ordinal }
                | Wait::PodRestarting { ordinal }
                | Wait::PodNotReady { ordinal }
                | Wait::RolloutStuck { ordinal, .. }
                | Wait::RecoveryBlocked { ordinal, .. }
                | Wait::ForeignData { ordinal, .. } => Some(*ordinal),
                Wait::QuorumAtRisk { id } | Wait::LearnerCatchingUp { id } => Some(*id),
                _ => None,
            },
        }
    }

    /// Changes the cluster (a broker call or a pod deletion).
    pub fn is_action(&self) -> bool {
        !matches!(self, Self::Wait(_) | Self::Converged)
    }

    /// `status.phase` for this step.
    pub fn phase(&self, bootstrapped: bool) -> &'static str {
        if self.degraded() {
            return "Degraded";
        }
        match self {
            Self::Bootstrap { .. } => "Bootstrapping",
            _ if !bootstrapped => "Bootstrapping",
            Self::Converged => "Running",
            Self::RecoveryDone { .. } => "Scaling",
            Self::RestartPod { .. }
            | Self::RestartAll { .. }
            | Self::TransferLeader {
                purpose: Purpose::RollingUpdate,
                ..
            }
            | Self::Wait(Wait::StatefulSetSyncing | Wait::PodRestarting { .. }) => "Updating",
            _ => "Scaling",
        }
    }
}
