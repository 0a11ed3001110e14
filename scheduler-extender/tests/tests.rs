//! The scheduler crate's integration tests, linked into one test binary (each file below is
//! a module): the verbs over a score book, the wire format against golden files, the
//! Kubernetes client against the protocol fake (`ironspider-kube-fake`), and the rebalancer
//! on the Bitbrains trace.

mod golden;
mod kubernetes;
mod rebalance_bitbrains;
mod verbs;
