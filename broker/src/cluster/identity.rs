//! A node's identity on disk (`<state-dir>/node.json`): the Raft id it was given once. Restarting
//! on the same state dir resumes as the same member.

use std::fs;
use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::raft::NodeId;
use crate::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    pub node_id: NodeId,
}

const FILE: &str = "node.json";

pub fn load(state_dir: &Path) -> Result<Option<Identity>> {
    let path = state_dir.join(FILE);
    match fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| Error::StateDir {
                path,
                reason: format!("unreadable identity: {e}"),
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(format!("read {}", path.display()), e)),
    }
}

/// Write durably: temp file, fsync, rename, fsync the directory.
pub fn save(state_dir: &Path, id: Identity) -> Result<()> {
    let path = state_dir.join(FILE);
    let tmp = state_dir.join("node.json.tmp");
    let io = |e| Error::io(format!("write {}", path.display()), e);
    let mut f = fs::File::create(&tmp).map_err(io)?;
    f.write_all(&serde_json::to_vec_pretty(&id).expect("identity encodes"))
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
        save(dir.path(), Identity { node_id: 7 }).unwrap();
        assert_eq!(load(dir.path()).unwrap(), Some(Identity { node_id: 7 }));
    }
}
