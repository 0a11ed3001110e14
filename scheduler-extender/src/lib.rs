//! # ironspider-scheduler
//!
//! The consumer side of the engine: a kube-scheduler extender (the `filter`, `prioritize`,
//! `bind` and `preempt` verbs of `k8s.io/kube-scheduler/extender/v1`), GPU-aware placement
//! policies, the rebalancer's eviction plans, and the placement simulator behind
//! `ironspider simulate`. It reads the engine's latest score snapshot and never raw samples.
//!
//! Nothing lives here yet: the scheduler work fills it.
