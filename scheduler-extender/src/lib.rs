//! # ironspider-scheduler
//!
//! The consumer side of the engine: a kube-scheduler extender (the `filter`, `prioritize`,
//! `bind` and `preempt` verbs of `k8s.io/kube-scheduler/extender/v1`), GPU-aware placement
//! policies, the rebalancer's eviction plans, and the placement simulator behind
//! `ironspider simulate`. It reads the engine's latest score snapshot and never raw samples.
//!
//! So far: the extender's wire types and their JSON ([`protocol`]), what a pod asks for
//! ([`request`], with [`quantity`]), and the GPU ledger that filter and bind share
//! ([`gpu`]). The verbs, the cluster model, the policies, the rebalancer and the simulator
//! are still to come.

pub mod gpu;
pub mod protocol;
pub mod quantity;
pub mod request;
