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
            Self::Converged => "ClusterReady",
            Self::Wait(w) => match w {
                Wait::PodsStarting => "WaitingForPods",
                Wait::NoLeader => "NoLeader",
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
            Self::RestartPod { ordinal } => format!("restarting {} on the new pod template", pod(*ordinal)),
            Self::RestartAll { ordinals } => format!(
                "restarting {} together: the cluster secret changed and brokers with different secrets cannot talk; unavailable until they are back",
                ordinals.iter().map(|o| pod(*o)).collect::<Vec<_>>().join(", ")
            ),
            Self::Converged => "all members are voters, ready and up to date".into(),
            Self::Wait(w) => match w {
                Wait::PodsStarting => "waiting for broker pods to start and answer".into(),
                Wait::NoLeader => "no broker reports a Raft leader".into(),
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
            } | Self::Wait(
                Wait::NoLeader
                    | Wait::SplitClusters { .. }
                    | Wait::ForeignData { .. }
                    | Wait::ClusterDataMissing
                    | Wait::QuorumAtRisk { .. }
                    | Wait::NoTransferTarget
                    | Wait::PodNotReady { .. }
            )
        )
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
