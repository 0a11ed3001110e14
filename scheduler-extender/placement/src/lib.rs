//! # ironspider-placement
//!
//! The placement core: where pods go, with no transport, no Kubernetes client and no
//! engine. **In:** what a pod asks for ([`demand`]: CPU, memory, a share of a GPU or whole
//! GPUs, accepted GPU models) and each node's free capacity. **Out:** a node and the GPU
//! devices it takes.
//!
//! - [`gpu`]: the GPU ledger that the extender's filter and bind share, and the best-fit
//!   device choice;
//! - [`cluster`]: the placement view of nodes and pods;
//! - [`mix`]: the typical pod mix the fragmentation measure is taken against;
//! - [`policy`]: the placement policies (random, best fit, packing, dot product, clustering,
//!   FGD and IronSpider's own) with the FGD fragmentation measure ([`policy::frag`]);
//! - [`sim`] (seeded by [`rng`]): the simulator that replays the Alibaba GPU trace through
//!   the policies with the protocol of the FGD paper (Weng et al., USENIX ATC '23).
//!
//! The extender (`ironspider-scheduler`) reads pods from Kubernetes into a
//! [`demand::PodRequest`] and calls [`gpu`], [`mix`] and [`policy`] on its hot path; the
//! simulator behind `ironspider simulate` runs the very same code.

pub mod cluster;
pub mod demand;
pub mod gpu;
pub mod mix;
pub mod policy;
pub mod rng;
pub mod sim;
