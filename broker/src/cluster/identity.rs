//! A node's identity on disk (`<state-dir>/node.json`): the Raft id it was given once, the
//! incarnation of this state dir and, once known, the cluster it belongs to. Restarting on the
//! same state dir resumes as the same member; a node whose state dir was lost comes back with a new
//! incarnation, which its old membership entry does not name, so it can neither vote nor
//! acknowledge entries as the member it replaced.

use std::fs;
use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::raft::NodeId;
use crate::{Error, Result};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    pub node_id: NodeId,
    /// 32 lower-case hex digits, made when `node.json` is first written and never changed (empty in
    /// files written before incarnations existed: [`load`] gives those one).
    #[serde(default)]
    pub incarnation: String,
    /// The cluster this state dir belongs to, once known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_id: Option<String>,
}

impl Identity {
    /// A new identity for a fresh state dir.
    pub fn new(node_id: NodeId) -> Identity {
        Identity {
            node_id,
            incarnation: new_incarnation(),
            cluster_id: None,
        }
    }
}

/// A random 128-bit id as 32 lower-case hex digits.
pub fn new_incarnation() -> String {
    let bits: u128 = rand::random();
    format!("{bits:032x}")
}

const FILE: &str = "node.json";

/// The saved identity; one written before incarnations existed gets one now (saved).
pub fn load(state_dir: &Path) -> Result<Option<Identity>> {
    let path = state_dir.join(FILE);
    match fs::read(&path) {
        Ok(bytes) => {
            let mut id: Identity = serde_json::from_slice(&bytes).map_err(|e| Error::StateDir {
                path,
                reason: format!("unreadable identity: {e}"),
            })?;
            if id.incarnation.is_empty() {
                id.incarnation = new_incarnation();
                save(state_dir, &id)?;
            }
            Ok(Some(id))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(format!("read {}", path.display()), e)),
    }
}

/// Write durably: temp file, fsync, rename, fsync the directory.
pub fn save(state_dir: &Path, id: &Identity) -> Result<()> {
    let path = state_dir.join(FILE);
    let tmp = state_dir.join("node.json.tmp");
    let io = |e| Error::io(format!("write {}", path.display()), e);
    let mut f = fs::File::create(&tmp).map_err(io)?;
    f.write_all(&serde_json::to_vec_pretty(id).expect("identity encodes"))
        .map_err(io)?;
    f.sync_all().map_err(io)?;
    fs::rename(&tmp, &path).map_err(io)?;
    fs::File::open(state_dir)
        .and_then(|d| d.sync_all())
        .map_err(io)?;
    Ok(())
}

/// `jumpnet-2` → 2: a StatefulSet pod's ordinal, its id in managed mode.
pub fn ordinal_of(hostname: &str) -> Option<NodeId> {
    let short = hostname.split('.').next()?;
    let (_, n) = short.rsplit_once('-')?;
    n.parse().ok()
}

pub fn hostname() -> Option<String> {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| {
            fs::read_to_string("/etc/hostname")
                .ok()
                .map(|s| s.trim().to_string())
                .filter(|h| !h.is_empty())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statefulset_pod_names_give_their_ordinal() {
        assert_eq!(ordinal_of("jn-0"), Some(0));
        assert_eq!(
            ordinal_of("my-cluster-12.my-cluster-headless.ns.svc"),
            Some(12)
        );
        assert_eq!(ordinal_of("laptop"), None);
    }

    #[test]
    fn identity_survives_a_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(load(dir.path()).unwrap(), None);
        let id = Identity::new(7);
        save(dir.path(), &id).unwrap();
        assert_eq!(load(dir.path()).unwrap(), Some(id));
    }

    #[test]
    fn incarnations_are_128_random_bits_in_lower_case_hex() {
        let (a, b) = (new_incarnation(), new_incarnation());
        assert_eq!(a.len(), 32);
        assert!(a
            .chars()
            .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)));
        assert_ne!(a, b);
    }

    #[test]
    fn a_node_json_from_before_incarnations_gets_one_once() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(FILE), br#"{"node_id": 3}"#).unwrap();
        let first = load(dir.path()).unwrap().unwrap();
        assert_eq!(first.node_id, 3);
        assert_eq!(first.incarnation.len(), 32);
        assert_eq!(load(dir.path()).unwrap().unwrap(), first);
    }
}
