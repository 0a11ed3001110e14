//! # ironspider-scheduler
//!
//! The consumer side of the engine: a kube-scheduler extender (the `filter`, `prioritize`,
//! `bind` and `preempt` verbs of `k8s.io/kube-scheduler/extender/v1`), GPU-aware placement
//! policies, the rebalancer's eviction plans, and the placement simulator behind
//! `ironspider simulate`. It reads the engine's latest score snapshot and never raw samples.
//!
//! So far: the extender's wire types and their JSON ([`protocol`]), what a pod asks for
//! ([`request`], with [`quantity`]), the GPU ledger that filter and bind share ([`gpu`]),
//! the placement view of nodes and pods ([`cluster`]), the placement policies with the FGD
//! fragmentation measure ([`policy`]), and the simulator that replays the Alibaba GPU trace
//! through them ([`sim`], seeded by [`rng`]). The verbs, the cluster model fed by telemetry
//! and the rebalancer are still to come.

pub mod cluster;
pub mod gpu;
pub mod policy;
pub mod protocol;
pub mod quantity;
pub mod request;
pub mod rng;
pub mod sim;
