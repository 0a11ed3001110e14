//! # ironspider-scheduler
//!
//! The consumer side of the engine: a kube-scheduler extender (the `filter`, `prioritize`,
//! `bind` and `preempt` verbs of `k8s.io/kube-scheduler/extender/v1`), GPU-aware placement
//! policies, the rebalancer's eviction plans, and the placement simulator behind
//! `ironspider simulate` (in `ironspider-placement`). It reads the engine's latest score
//! snapshot and never raw samples.
//!
//! - [`protocol`]: the extender's wire types and their JSON;
//! - [`request`] (with [`quantity`]): what a pod asks for, read from a Kubernetes pod;
//! - [`model`]: the cluster model (telemetry, inventory, bound pods, the GPU ledger), fed by
//!   the engine's published scores (an [`ironspider_scores::ScoreSource`]);
//! - [`filter`], [`prioritize`], [`extender`]: the verbs; [`http`]: their routes;
//! - [`rebalance`]: hot spots and eviction plans; [`live_rebalance`]: the same in a server;
//! - [`config`]: the `[scheduler]` settings;
//! - [`kubernetes`]: the Kubernetes client (watch, Bindings, evictions), when a cluster is
//!   configured;
//!
//! The placement core — GPU ledger, placement view, typical mix, policies and the trace
//! simulator — is the pure crate `ironspider-placement`; the score types and formulas come
//! from `ironspider-scores`. This crate adds the Kubernetes side: the wire protocol, the
//! HTTP routes and the client.

pub mod answer;
pub mod config;
pub mod extender;
pub mod filter;
pub mod go_json;
pub mod http;
pub mod kubernetes;
pub mod live_rebalance;
pub mod model;
pub mod prioritize;
pub mod protocol;
pub mod quantity;
pub mod rebalance;
pub mod request;
