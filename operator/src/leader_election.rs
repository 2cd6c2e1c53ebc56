//! Leader election on a `coordination.k8s.io/v1` Lease, the client-go protocol: the holder
//! renews `renewTime` every `retry_period`; a candidate takes the Lease over only after it saw
//! the same record unchanged for a whole `leaseDuration` (measured on its own monotonic clock,
//! so clock skew between nodes does not matter). Writes carry the resourceVersion they read,
//! so two candidates can never both win. Only the holder runs the controller; a holder that
//! cannot renew within `renew_deadline` steps down (the process exits and restarts as a
//! candidate), and a holder that shuts down releases the Lease so a standby takes over at once.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, PostParams};
use kube::Client;
use tokio::sync::watch;
use tracing::{info, warn};

use crate::{Error, Result};

#[derive(Clone, Debug)]
pub struct LeaseConfig {
    pub name: String,
    pub namespace: String,
    /// Unique per operator process (the pod name).
    pub identity: String,
    pub lease_duration: Duration,
    /// A holder that could not renew for this long stops acting as leader.
    pub renew_deadline: Duration,
    pub retry_period: Duration,
}

impl LeaseConfig {
    pub fn new(
        name: String,
        namespace: String,
        identity: String,
        lease_duration: Duration,
    ) -> Self {
        Self {
            name,
            namespace,
            identity,
            renew_deadline: lease_duration * 2 / 3,
            retry_period: lease_duration / 5,
            lease_duration,
        }
    }
}

/// The last Lease record seen, and when (locally) it was first seen.
struct Observed {
    record: (Option<String>, Option<String>),
    since: Instant,
}

pub struct LeaderElector {
    api: Api<Lease>,
    config: LeaseConfig,
    observed: Option<Observed>,
}

fn conflict_or_exists(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 409)
}

impl LeaderElector {
    pub fn new(client: Client, config: LeaseConfig) -> Self {
        Self {
            api: Api::namespaced(client, &config.namespace),
            config,
            observed: None,
        }
    }

    fn spec(&self, acquire: Option<MicroTime>, transitions: i32) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some(self.config.identity.clone()),
            lease_duration_seconds: Some(self.config.lease_duration.as_secs() as i32),
            acquire_time: acquire,
            renew_time: Some(MicroTime(Timestamp::now())),
            lease_transitions: Some(transitions),
            ..LeaseSpec::default()
        }
    }

    /// One round of the protocol at local time `now`; true while this process holds the Lease.
    pub async fn try_acquire_or_renew(&mut self, now: Instant) -> Result<bool> {
        let err = |action: &str| Error::kube(format!("{action} Lease {}", self.config.name));
        let Some(mut lease) = self
            .api
            .get_opt(&self.config.name)
            .await
            .map_err(err("get"))?
        else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.config.name.clone()),
                    namespace: Some(self.config.namespace.clone()),
                    ..ObjectMeta::default()
                },
                spec: Some(self.spec(Some(MicroTime(Timestamp::now())), 0)),
            };
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(true),
                Err(e) if conflict_or_exists(&e) => Ok(false),
                Err(e) => Err(err("create")(e)),
            };
        };
        let spec = lease.spec.clone().unwrap_or_default();
        let holder = spec.holder_identity.clone().filter(|h| !h.is_empty());
        let record = (holder.clone(), lease.metadata.resource_version.clone());
        if self.observed.as_ref().is_none_or(|o| o.record != record) {
            self.observed = Some(Observed { record, since: now });
        }
        let mine = holder.as_deref() == Some(self.config.identity.as_str());
        if !mine && holder.is_some() {
            let duration = spec
                .lease_duration_seconds
                .map(|s| Duration::from_secs(s.max(1) as u64))
                .unwrap_or(self.config.lease_duration);
            let since = self.observed.as_ref().map_or(now, |o| o.since);
            if now.duration_since(since) < duration {
                return Ok(false);
            }
        }
        lease.spec = Some(if mine {
            self.spec(
                spec.acquire_time.clone(),
                spec.lease_transitions.unwrap_or(0),
            )
        } else {
            info!(
                previous = holder.as_deref().unwrap_or("<none>"),
                "taking over the leader Lease"
            );
            self.spec(
                Some(MicroTime(Timestamp::now())),
                spec.lease_transitions.unwrap_or(0) + 1,
            )
        });
        match self
            .api
            .replace(&self.config.name, &PostParams::default(), &lease)
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if conflict_or_exists(&e) => Ok(false),
            Err(e) => Err(err("update")(e)),
        }
    }

    /// Gives the Lease up (shutdown), so a standby does not wait for it to expire.
    pub async fn release(&mut self) -> Result<()> {
        let err = |action: &str| Error::kube(format!("{action} Lease {}", self.config.name));
        let Some(mut lease) = self
            .api
            .get_opt(&self.config.name)
            .await
            .map_err(err("get"))?
        else {
            return Ok(());
        };
        let Some(spec) = lease.spec.as_mut() else {
            return Ok(());
        };
        if spec.holder_identity.as_deref() != Some(self.config.identity.as_str()) {
            return Ok(());
        }
        spec.holder_identity = None;
        spec.lease_duration_seconds = Some(1);
        spec.renew_time = Some(MicroTime(Timestamp::now()));
        match self
            .api
            .replace(&self.config.name, &PostParams::default(), &lease)
            .await
        {
            Ok(_) | Err(kube::Error::Api(_)) => Ok(()),
            Err(e) => Err(err("release")(e)),
        }
    }

    /// Runs the protocol forever, publishing leadership on `leading`; `reachable` turns true
    /// at the first answer of the API server.
    pub async fn run(mut self, leading: watch::Sender<bool>, reachable: Arc<AtomicBool>) {
        let mut last_renewal: Option<Instant> = None;
        loop {
            let now = Instant::now();
            match self.try_acquire_or_renew(now).await {
                Ok(held) => {
                    reachable.store(true, Ordering::Relaxed);
                    last_renewal = held.then_some(now);
                    if held != *leading.borrow() {
                        info!(identity = %self.config.identity, leading = held, "leadership changed");
                    }
                    leading.send_replace(held);
                }
                Err(e) => {
                    warn!(error = %e, "leader election round failed");
                    let expired = last_renewal
                        .is_none_or(|t| now.duration_since(t) > self.config.renew_deadline);
                    if *leading.borrow() && expired {
                        warn!("could not renew the leader Lease in time: stepping down");
                        leading.send_replace(false);
                    }
                }
            }
            tokio::time::sleep(self.config.retry_period).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{Journal, World};
    use std::sync::Mutex;

    const LEASE: &str = "/apis/coordination.k8s.io/v1/namespaces/ns/leases/jumpnet-operator";

    fn elector(world: &Arc<Mutex<World>>, identity: &str) -> LeaderElector {
        let config = LeaseConfig::new(
            "jumpnet-operator".into(),
            "ns".into(),
            identity.into(),
            Duration::from_secs(15),
        );
        LeaderElector::new(World::client(world.clone()), config)
    }

    #[tokio::test]
    async fn only_one_of_two_replicas_leads_until_the_lease_expires() {
        let journal = Journal::default();
        let world = Arc::new(Mutex::new(World::new(journal.clone(), None)));
        let mut a = elector(&world, "op-a");
        let mut b = elector(&world, "op-b");
        let t0 = Instant::now();

        assert!(
            a.try_acquire_or_renew(t0).await.unwrap(),
            "first candidate creates the Lease"
        );
        assert_eq!(
            journal.take(),
            [
                format!("k8s GET {LEASE}"),
                "k8s POST /apis/coordination.k8s.io/v1/namespaces/ns/leases".to_string()
            ]
        );
        assert!(!b.try_acquire_or_renew(t0).await.unwrap(), "held by a");
        assert_eq!(
            journal.take(),
            [format!("k8s GET {LEASE}")],
            "a standby only reads"
        );

        let t1 = t0 + Duration::from_secs(5);
        assert!(a.try_acquire_or_renew(t1).await.unwrap(), "renewal");
        assert_eq!(
            journal.take(),
            [format!("k8s GET {LEASE}"), format!("k8s PUT {LEASE}")]
        );
        assert!(
            !b.try_acquire_or_renew(t1 + Duration::from_secs(14))
                .await
                .unwrap(),
            "renewed: b's clock restarts"
        );

        // a dies: its record stays unchanged for a whole lease duration on b's clock
        let t2 = t1 + Duration::from_secs(14 + 16);
        assert!(
            b.try_acquire_or_renew(t2).await.unwrap(),
            "expired: b takes over"
        );
        let lease = world.lock().unwrap().get(LEASE).cloned().unwrap();
        assert_eq!(lease["spec"]["holderIdentity"], "op-b");
        assert_eq!(lease["spec"]["leaseTransitions"], 1);
        assert!(
            !a.try_acquire_or_renew(t2).await.unwrap(),
            "a came back: now a standby"
        );
    }

    #[tokio::test]
    async fn racing_candidates_cannot_both_win_and_release_hands_over_at_once() {
        let journal = Journal::default();
        let world = Arc::new(Mutex::new(World::new(journal.clone(), None)));
        let mut a = elector(&world, "op-a");
        let mut b = elector(&world, "op-b");
        let t0 = Instant::now();
        assert!(a.try_acquire_or_renew(t0).await.unwrap());
        assert!(!b.try_acquire_or_renew(t0).await.unwrap());
        // To b the record looks expired, but a renews between b's read and b's write.
        world.lock().unwrap().before_next("PUT", LEASE, |w| {
            w.edit(LEASE, |l| {
                l["spec"]["renewTime"] = serde_json::json!("2030-01-01T00:00:00.000000Z")
            })
        });
        let later = t0 + Duration::from_secs(60);
        assert!(
            !b.try_acquire_or_renew(later).await.unwrap(),
            "stale resourceVersion: 409, b loses"
        );
        assert_eq!(
            world.lock().unwrap().get(LEASE).unwrap()["spec"]["holderIdentity"],
            "op-a"
        );
        assert!(
            a.try_acquire_or_renew(later).await.unwrap(),
            "a still leads"
        );

        a.release().await.unwrap();
        let lease = world.lock().unwrap().get(LEASE).cloned().unwrap();
        assert!(lease["spec"].get("holderIdentity").is_none(), "released");
        assert!(
            b.try_acquire_or_renew(later).await.unwrap(),
            "an empty holder is free at once"
        );
        assert!(!a.try_acquire_or_renew(later).await.unwrap());
    }
}
