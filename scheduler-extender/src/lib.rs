//! # ironspider-scheduler
//!
//! The consumer side of the engine: a kube-scheduler extender (the `filter`, `prioritize`,
//! `bind` and `preempt` verbs of `k8s.io/kube-scheduler/extender/v1`), GPU-aware placement
//! policies, the rebalancer's eviction plans, and the placement simulator behind
//! `ironspider simulate`. It reads the engine's latest score snapshot and never raw samples.
//!
//! - [`protocol`]: the extender's wire types and their JSON;
//! - [`request`] (with [`quantity`]): what a pod asks for;
//! - [`gpu`]: the GPU ledger that filter and bind share;
//! - [`model`]: the cluster model (telemetry, inventory, bound pods), fed by [`source`];
//! - [`filter`], [`prioritize`], [`extender`]: the verbs; [`http`]: their routes;
//! - [`rebalance`]: hot spots and eviction plans; [`live_rebalance`]: the same in a server;
//! - [`config`]: the `[scheduler]` settings;
//! - [`kubernetes`]: the Kubernetes client (watch, Bindings, evictions), when a cluster is
//!   configured;
//! - [`cluster`], [`policy`]: the placement view of nodes and pods and the placement
//!   policies with the FGD fragmentation measure; [`sim`] (seeded by [`rng`]): the simulator
//!   that replays the Alibaba GPU trace through them.

pub mod answer;
pub mod cluster;
pub mod config;
pub mod extender;
pub mod filter;
pub mod go_json;
pub mod gpu;
pub mod http;
pub mod kubernetes;
pub mod live_rebalance;
pub mod mix;
pub mod model;
pub mod policy;
pub mod prioritize;
pub mod protocol;
pub mod quantity;
pub mod rebalance;
pub mod request;
pub mod rng;
pub mod sim;
pub mod source;
