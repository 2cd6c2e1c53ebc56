//! [`SetClusterId`], [`AssignNodeId`] and [`AllocateProducerId`]: the cluster's own records.

use super::{Applier, Res};
use crate::command::{
    AllocateProducerId, AssignNodeId, ClusterIdSet, NodeIdAssigned, OpError, ProducerIdAllocated,
    SetClusterId,
};
use crate::topics::keys;

impl Applier<'_> {
    /// The first id recorded wins; later proposals answer it.
    pub(super) fn set_cluster_id(&mut self, c: SetClusterId) -> Res<Result<ClusterIdSet, OpError>> {
        if let Some(cluster_id) = self.get::<String>(keys::CLUSTER_ID)? {
            return Ok(Ok(ClusterIdSet { cluster_id }));
        }
        self.put(keys::CLUSTER_ID, &c.cluster_id);
        Ok(Ok(ClusterIdSet {
            cluster_id: c.cluster_id,
        }))
    }

    /// The id this raft address already has, or one past the highest given so far.
    pub(super) fn assign_node_id(
        &mut self,
        c: AssignNodeId,
    ) -> Res<Result<NodeIdAssigned, OpError>> {
        let key = keys::node(&c.raft_addr);
        if let Some(node_id) = self.get::<u64>(&key)? {
            return Ok(Ok(NodeIdAssigned { node_id }));
        }
        let mut max = 0;
        for k in self.keys_with_prefix(keys::NODE_PREFIX)? {
            max = max.max(self.get::<u64>(&k)?.unwrap_or(0));
        }
        self.put(&key, &(max + 1));
        Ok(Ok(NodeIdAssigned { node_id: max + 1 }))
    }

    /// Record the id a node already has (the bootstrap node, or one the operator numbered), from a
    /// membership entry.
    pub fn note_node_id(&mut self, raft_addr: &str, id: u64) -> Res<()> {
        let key = keys::node(raft_addr);
        if self.get::<u64>(&key)?.is_none() {
            self.put(&key, &id);
        }
        Ok(())
    }

    /// The next Kafka producer id (from 1000: small ids stay recognisable as test values).
    pub(super) fn allocate_producer_id(
        &mut self,
        _: AllocateProducerId,
    ) -> Res<Result<ProducerIdAllocated, OpError>> {
        let producer_id = self
            .get::<u64>(keys::NEXT_KAFKA_PRODUCER_ID)?
            .unwrap_or(1000);
        self.put(keys::NEXT_KAFKA_PRODUCER_ID, &(producer_id + 1));
        Ok(Ok(ProducerIdAllocated { producer_id }))
    }
}
