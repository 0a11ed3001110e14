//! The GPU ledger: every node's GPUs by device, with the thousandths ("milli") still free,
//! and which pod holds which shares. Filter asks whether a demand fits ([`GpuLedger::fits`],
//! under a read lock); bind takes the shares ([`GpuLedger::assign`], under the write lock, so
//! two binds can never take the same share and a bind that no longer fits is refused).
//!
//! Placement inside a node:
//! - a fractional demand goes to the device it fits most tightly (least free milli that is
//!   still enough; lowest index on ties), which keeps whole GPUs free for whole-GPU pods;
//! - a demand of N whole GPUs takes the N lowest-indexed devices that are entirely free.
//!
//! Devices whose model is not among the pod's accepted models are not considered.

use crate::demand::{GpuDemand, WHOLE_GPU};
use hashbrown::{HashMap, HashSet};
use parking_lot::{RwLock, RwLockReadGuard};
use smallvec::SmallVec;

/// One GPU device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gpu {
    /// Device id (`hw.id`, DCGM `UUID`).
    pub id: String,
    /// Model name.
    pub model: String,
    /// Thousandths still free.
    pub free: u32,
}

/// Whether a GPU of `model` is among a pod's accepted `models` (none listed: any model).
pub fn accepts(models: &[String], model: &str) -> bool {
    models.is_empty() || models.iter().any(|accepted| accepted == model)
}

/// The id of a node's `index`-th device when only a count of GPUs is known (inventory, the
/// Kubernetes API's `nvidia.com/gpu`): `gpu0`, `gpu1`, …
pub fn placeholder_id(index: usize) -> String {
    format!("gpu{index}")
}

/// Shares of a node's devices held by one pod: `(device index, milli)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allocation {
    /// The node.
    pub node: String,
    /// Device index and milli taken on it.
    pub shares: Vec<(usize, u32)>,
}

/// Why a GPU demand does not fit a node.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The ledger does not know the node.
    #[error("node {0} is unknown (no telemetry and no inventory entry)")]
    UnknownNode(String),
    /// None of the node's GPUs is of an accepted model.
    #[error("no GPU of model {wanted} (node has {has})")]
    Model {
        /// Accepted models.
        wanted: String,
        /// The node's models.
        has: String,
    },
    /// The node has fewer GPUs of an accepted model than the pod asks for, even all free.
    #[error("needs {needed} GPU(s), node has {has}")]
    TooFew {
        /// GPUs asked for.
        needed: u32,
        /// Eligible GPUs on the node.
        has: usize,
    },
    /// Not enough free GPU.
    #[error("needs {needed}, node has {free} free")]
    Insufficient {
        /// What the pod asks, in words.
        needed: String,
        /// What is free, in words.
        free: String,
    },
}

impl Refusal {
    /// Whether preempting pods could ever make the demand fit (it cannot for an unknown
    /// node or a wrong model: kube-scheduler's `FailedAndUnresolvableNodes`).
    pub fn resolvable(&self) -> bool {
        matches!(self, Refusal::Insufficient { .. })
    }
}

fn describe(demand: &GpuDemand) -> String {
    match demand {
        GpuDemand::None => "no GPU".into(),
        GpuDemand::Fraction(milli) => format!("{milli} milli of one GPU"),
        GpuDemand::Whole(n) => format!("{n} whole GPU(s)"),
    }
}

/// Whether `demand` fits `gpus`, without choosing the devices: a quick pass that stops at the
/// first device that will do, and [`plan`] only to say why when it does not fit.
pub fn check(gpus: &[Gpu], demand: &GpuDemand, models: &[String]) -> Result<(), Refusal> {
    let eligible = |gpu: &&Gpu| accepts(models, &gpu.model);
    let fits = match demand {
        GpuDemand::None => true,
        GpuDemand::Fraction(milli) => gpus.iter().filter(eligible).any(|gpu| gpu.free >= *milli),
        GpuDemand::Whole(n) => gpus.iter().filter(eligible).filter(|gpu| gpu.free == WHOLE_GPU).count() >= *n as usize,
    };
    if fits { Ok(()) } else { plan(gpus, demand, models).map(|_| ()) }
}

/// The shares one pod takes on a node: `(device index, milli)`, at most one per device
/// (inline up to eight devices, so choosing them allocates nothing on common nodes).
pub type Shares = SmallVec<[(usize, u32); 8]>;

/// Devices whose free milli a [`FreeMilli`] holds inline.
const FREE_MILLI_INLINE: usize = 16;

/// Milli free per device of one node, in device order (inline up to sixteen devices).
pub type FreeMilli = SmallVec<[u32; FREE_MILLI_INLINE]>;

/// The milli free on each of `gpus`, in device order.
pub fn free_milli(gpus: &[Gpu]) -> FreeMilli {
    // Filled in a plain array when the devices fit inline: collecting from an iterator pushes
    // one device at a time, and `from_elem` zeroes through `extend`, each several times
    // slower on the `prioritize` path than the copy itself.
    if gpus.len() > FREE_MILLI_INLINE {
        return gpus.iter().map(|gpu| gpu.free).collect();
    }
    let mut free = [0; FREE_MILLI_INLINE];
    for (slot, gpu) in free.iter_mut().zip(gpus) {
        *slot = gpu.free;
    }
    FreeMilli::from_buf_and_len(free, gpus.len())
}

/// The shares `demand` takes on devices with `free` milli each, among those `eligible` (by
/// index), by the rules of the module doc; `None` when it does not fit.
pub fn choose(free: &[u32], eligible: impl Fn(usize) -> bool, demand: &GpuDemand) -> Option<Shares> {
    let candidates = || (0..free.len()).filter(|&device| eligible(device));
    match *demand {
        GpuDemand::None => Some(Shares::new()),
        GpuDemand::Fraction(milli) => {
            // The tightest fit, the lowest index on ties (a plain loop: `min_by_key` over
            // `(free, index)` costs several times more per device).
            let (mut tightest, mut tightest_free) = (None, u32::MAX);
            for (device, &left) in free.iter().enumerate() {
                if left >= milli && left < tightest_free && eligible(device) {
                    (tightest, tightest_free) = (Some(device), left);
                }
            }
            tightest.map(|device| Shares::from_slice(&[(device, milli)]))
        }
        GpuDemand::Whole(n) => {
            let wholly_free = candidates().filter(|&device| free[device] == WHOLE_GPU);
            let shares: Shares = wholly_free.take(n as usize).map(|device| (device, WHOLE_GPU)).collect();
            (shares.len() == n as usize).then_some(shares)
        }
    }
}

/// Chooses the shares a demand would take on `gpus`, without taking them ([`choose`]), or
/// says why it does not fit.
pub fn plan(gpus: &[Gpu], demand: &GpuDemand, models: &[String]) -> Result<Shares, Refusal> {
    let eligible = |gpu: &Gpu| accepts(models, &gpu.model);
    if *demand != GpuDemand::None && !gpus.iter().any(eligible) {
        if models.is_empty() {
            let needed = match demand {
                GpuDemand::Whole(n) => *n,
                _ => 1,
            };
            return Err(Refusal::TooFew { needed, has: 0 });
        }
        let has: Vec<&str> = gpus.iter().map(|g| g.model.as_str()).collect();
        return Err(Refusal::Model { wanted: models.join("|"), has: has.join(",") });
    }
    if let Some(shares) = choose(&free_milli(gpus), |device| eligible(&gpus[device]), demand) {
        return Ok(shares);
    }
    let has = gpus.iter().filter(|g| eligible(g)).count();
    match demand {
        GpuDemand::Whole(needed) if has < *needed as usize => Err(Refusal::TooFew { needed: *needed, has }),
        _ => {
            let whole_free = gpus.iter().filter(|g| eligible(g) && g.free == WHOLE_GPU).count();
            let largest = gpus.iter().filter(|g| eligible(g)).map(|g| g.free).max().unwrap_or(0);
            Err(Refusal::Insufficient {
                needed: describe(demand),
                free: format!("{whole_free} whole GPU(s), largest share {largest} milli"),
            })
        }
    }
}

/// Where the ledger keeps a node's devices. A slot is never given to another node: a node
/// forgotten ([`GpuLedger::forget`]) leaves its slot empty, so a slot found once, by the
/// model's per-snapshot index, spares every later request the ledger's own name lookup and
/// at worst shows a node that has gone as one without devices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeSlot(usize);

/// Every node's devices, by slot, and the slot of each node name.
#[derive(Debug, Default)]
struct Nodes {
    slots: HashMap<String, NodeSlot>,
    devices: Vec<Vec<Gpu>>,
}

impl Nodes {
    fn get(&self, node: &str) -> Option<&Vec<Gpu>> {
        self.slots.get(node).map(|slot| &self.devices[slot.0])
    }

    fn get_mut(&mut self, node: &str) -> Option<&mut Vec<Gpu>> {
        self.slots.get(node).map(|slot| &mut self.devices[slot.0])
    }

    /// The devices of `node`, made known (with none) when it is new.
    fn known(&mut self, node: &str) -> &mut Vec<Gpu> {
        let slot = match self.slots.get(node) {
            Some(slot) => *slot,
            None => {
                let slot = NodeSlot(self.devices.len());
                self.devices.push(Vec::new());
                self.slots.insert(node.to_string(), slot);
                slot
            }
        };
        &mut self.devices[slot.0]
    }

    fn iter(&self) -> impl Iterator<Item = (&String, &Vec<Gpu>)> {
        self.slots.iter().map(|(node, slot)| (node, &self.devices[slot.0]))
    }
}

#[derive(Debug, Default)]
struct LedgerState {
    nodes: Nodes,
    allocations: HashMap<String, Allocation>,
}

/// Every node's GPUs and every pod's shares.
#[derive(Debug, Default)]
pub struct GpuLedger {
    state: RwLock<LedgerState>,
}

impl GpuLedger {
    /// Makes `node` known with `gpus` (all free) unless it is known already.
    pub fn add_node(&self, node: &str, gpus: Vec<Gpu>) {
        let mut state = self.state.write();
        if state.nodes.get(node).is_none() {
            *state.nodes.known(node) = gpus;
        }
    }

    /// Makes `node` known and adds those of `gpus` (by id) it does not have yet, all free;
    /// devices already known keep their shares, and none is removed (a device that stops
    /// reporting may still be in use).
    pub fn sync_node(&self, node: &str, gpus: &[Gpu]) {
        let mut state = self.state.write();
        let known = state.nodes.known(node);
        for gpu in gpus {
            if !known.iter().any(|k| k.id == gpu.id) {
                known.push(gpu.clone());
            }
        }
    }

    /// Forgets every node `keep` refuses and on which no pod holds shares (a node that left
    /// the cluster); returns how many. Its slot is emptied, never reused ([`NodeSlot`]).
    pub fn forget(&self, keep: impl Fn(&str) -> bool) -> usize {
        let mut state = self.state.write();
        let held: HashSet<String> = state.allocations.values().map(|a| a.node.clone()).collect();
        let gone: Vec<String> =
            state.nodes.slots.keys().filter(|node| !keep(node) && !held.contains(*node)).cloned().collect();
        for node in &gone {
            if let Some(slot) = state.nodes.slots.remove(node) {
                state.nodes.devices[slot.0] = Vec::new();
            }
        }
        gone.len()
    }

    /// Whether the ledger knows `node`.
    pub fn knows(&self, node: &str) -> bool {
        self.state.read().nodes.get(node).is_some()
    }

    /// Whether `demand` fits `node` now (filter); takes nothing.
    pub fn fits(&self, node: &str, demand: &GpuDemand, models: &[String]) -> Result<(), Refusal> {
        self.read().fits(node, None, demand, models)
    }

    /// The ledger under one read lock, to ask about many nodes; binds wait until it is
    /// dropped, so keep it for one request.
    pub fn read(&self) -> LedgerRead<'_> {
        LedgerRead(self.state.read())
    }

    /// Whether `demand` would fit `node` once the pods `victims` gave their shares back
    /// (preemption); takes nothing.
    pub fn fits_without(
        &self,
        node: &str,
        demand: &GpuDemand,
        models: &[String],
        victims: &[&str],
    ) -> Result<(), Refusal> {
        let state = self.state.read();
        let mut gpus = state.nodes.get(node).ok_or_else(|| Refusal::UnknownNode(node.to_string()))?.clone();
        for allocation in victims.iter().filter_map(|uid| state.allocations.get(*uid)).filter(|a| a.node == node) {
            for (device, milli) in &allocation.shares {
                gpus[*device].free += milli;
            }
        }
        plan(&gpus, demand, models).map(|_| ())
    }

    /// Takes the shares `demand` needs on `node` for pod `pod_uid` (bind). Assigning a pod
    /// that already holds shares returns its allocation unchanged.
    pub fn assign(
        &self,
        pod_uid: &str,
        node: &str,
        demand: &GpuDemand,
        models: &[String],
    ) -> Result<Allocation, Refusal> {
        let mut state = self.state.write();
        if let Some(existing) = state.allocations.get(pod_uid) {
            return Ok(existing.clone());
        }
        let gpus = state.nodes.get_mut(node).ok_or_else(|| Refusal::UnknownNode(node.to_string()))?;
        let shares = plan(gpus, demand, models)?;
        for (device, milli) in &shares {
            gpus[*device].free -= milli;
        }
        let allocation = Allocation { node: node.to_string(), shares: shares.to_vec() };
        state.allocations.insert(pod_uid.to_string(), allocation.clone());
        Ok(allocation)
    }

    /// Gives back the shares of `pod_uid`; returns them, `None` when it held none.
    pub fn release(&self, pod_uid: &str) -> Option<Allocation> {
        let mut state = self.state.write();
        let allocation = state.allocations.remove(pod_uid)?;
        if let Some(gpus) = state.nodes.get_mut(&allocation.node) {
            for (device, milli) in &allocation.shares {
                gpus[*device].free += milli;
            }
        }
        Some(allocation)
    }

    /// A copy of `node`'s devices.
    pub fn gpus(&self, node: &str) -> Option<Vec<Gpu>> {
        self.state.read().nodes.get(node).cloned()
    }

    /// A consistent copy of every node's devices and every allocation (by pod UID).
    pub fn view(&self) -> (HashMap<String, Vec<Gpu>>, HashMap<String, Allocation>) {
        let state = self.state.read();
        let nodes = state.nodes.iter().map(|(node, gpus)| (node.clone(), gpus.clone())).collect();
        (nodes, state.allocations.clone())
    }

    /// The shares pod `pod_uid` holds, if any.
    pub fn allocation(&self, pod_uid: &str) -> Option<Allocation> {
        self.state.read().allocations.get(pod_uid).cloned()
    }

    /// Every allocation, by pod UID.
    pub fn allocations(&self) -> HashMap<String, Allocation> {
        self.state.read().allocations.clone()
    }
}

/// The ledger under a read lock ([`GpuLedger::read`]).
pub struct LedgerRead<'a>(RwLockReadGuard<'a, LedgerState>);

impl LedgerRead<'_> {
    /// Whether `demand` fits `node` (in `slot`, when known) now; takes nothing.
    pub fn fits(
        &self,
        node: &str,
        slot: Option<NodeSlot>,
        demand: &GpuDemand,
        models: &[String],
    ) -> Result<(), Refusal> {
        let gpus = self.devices(node, slot).ok_or_else(|| Refusal::UnknownNode(node.to_string()))?;
        check(gpus, demand, models)
    }

    /// `node`'s devices, found by `slot` when known, else by name; `None` when the ledger
    /// does not know the node.
    pub fn devices(&self, node: &str, slot: Option<NodeSlot>) -> Option<&[Gpu]> {
        match slot {
            Some(slot) => Some(&self.0.nodes.devices[slot.0]),
            None => self.0.nodes.get(node).map(Vec::as_slice),
        }
    }

    /// The slot of `node`, when the ledger knows it.
    pub fn slot(&self, node: &str) -> Option<NodeSlot> {
        self.0.nodes.slots.get(node).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gpus(free: &[u32]) -> Vec<Gpu> {
        free.iter().enumerate().map(|(i, f)| Gpu { id: placeholder_id(i), model: "A100".into(), free: *f }).collect()
    }

    #[test]
    fn shares_fit_tightest_and_whole_gpus_take_wholly_free_devices() {
        let node = gpus(&[1000, 300, 600, 1000]);
        let planned = |demand| plan(&node, &demand, &[]).map(|shares| shares.to_vec());
        assert_eq!(planned(GpuDemand::Fraction(250)), Ok(vec![(1, 250)]), "300 free is the tightest fit");
        assert_eq!(planned(GpuDemand::Fraction(500)), Ok(vec![(2, 500)]));
        assert_eq!(planned(GpuDemand::Whole(2)), Ok(vec![(0, 1000), (3, 1000)]));
        assert_eq!(plan(&node, &GpuDemand::Whole(5), &[]), Err(Refusal::TooFew { needed: 5, has: 4 }));
        assert!(!Refusal::TooFew { needed: 5, has: 4 }.resolvable());
        let refused = plan(&node, &GpuDemand::Whole(3), &[]).unwrap_err();
        assert_eq!(refused.to_string(), "needs 3 whole GPU(s), node has 2 whole GPU(s), largest share 1000 milli free");
        assert!(refused.resolvable());
        let wrong_model = plan(&node, &GpuDemand::Fraction(100), &["H100".to_string()]).unwrap_err();
        assert!(!wrong_model.resolvable(), "{wrong_model}");
        let none = plan(&node, &GpuDemand::None, &["H100".to_string()]);
        assert_eq!(none, Ok(Shares::new()), "no GPU asked, no model needed");
    }

    proptest::proptest! {
        #[test]
        fn the_quick_check_agrees_with_the_plan(
            free in proptest::collection::vec(0u32..=1000, 0..6),
            models in proptest::collection::vec(0usize..2, 6),
            whole in 0u32..4,
            milli in 1u32..1000,
            wanted in proptest::option::of(0usize..2),
        ) {
            let names = ["A100", "H100"];
            let mut node = gpus(&free);
            for (gpu, model) in node.iter_mut().zip(&models) {
                gpu.model = names[*model].to_string();
            }
            let accepted: Vec<String> = wanted.map(|m| names[m].to_string()).into_iter().collect();
            for demand in [GpuDemand::None, GpuDemand::Fraction(milli), GpuDemand::Whole(whole.max(1))] {
                proptest::prop_assert_eq!(check(&node, &demand, &accepted), plan(&node, &demand, &accepted).map(|_| ()));
            }
        }
    }

    #[test]
    fn assign_is_idempotent_per_pod_and_release_gives_everything_back() {
        let ledger = GpuLedger::default();
        ledger.add_node("n1", gpus(&[1000, 1000]));
        let first = ledger.assign("pod-a", "n1", &GpuDemand::Fraction(400), &[]).unwrap();
        assert_eq!(ledger.assign("pod-a", "n1", &GpuDemand::Fraction(400), &[]).unwrap(), first);
        assert_eq!(ledger.gpus("n1").unwrap()[0].free, 600);
        assert!(matches!(ledger.fits("n9", &GpuDemand::Whole(1), &[]), Err(Refusal::UnknownNode(_))));
        assert_eq!(ledger.release("pod-a"), Some(first));
        assert_eq!(ledger.gpus("n1").unwrap()[0].free, 1000);
        assert_eq!(ledger.release("pod-a"), None);
    }

    #[test]
    fn forget_drops_nodes_left_alone_and_keeps_those_holding_shares() {
        let ledger = GpuLedger::default();
        for node in ["kept", "busy", "gone"] {
            ledger.add_node(node, gpus(&[1000]));
        }
        ledger.assign("pod-a", "busy", &GpuDemand::Fraction(400), &[]).unwrap();
        assert_eq!(ledger.forget(|node| node == "kept"), 1, "busy holds a share, kept is kept");
        assert!(ledger.knows("kept") && ledger.knows("busy") && !ledger.knows("gone"));
        assert!(matches!(ledger.fits("gone", &GpuDemand::Whole(1), &[]), Err(Refusal::UnknownNode(_))));
        ledger.release("pod-a");
        assert_eq!(ledger.forget(|node| node == "kept"), 1);
        // A node that comes back gets a new slot, with its devices free.
        ledger.sync_node("gone", &gpus(&[1000]));
        assert!(ledger.fits("gone", &GpuDemand::Whole(1), &[]).is_ok());
    }

    #[test]
    fn sync_adds_new_devices_free_and_keeps_the_shares_of_known_ones() {
        let ledger = GpuLedger::default();
        ledger.sync_node("n1", &gpus(&[1000]));
        ledger.assign("pod-a", "n1", &GpuDemand::Fraction(400), &[]).unwrap();
        ledger.sync_node("n1", &gpus(&[1000, 1000]));
        let devices = ledger.gpus("n1").unwrap();
        assert_eq!(
            devices.iter().map(|g| (g.id.as_str(), g.free)).collect::<Vec<_>>(),
            [("gpu0", 600), ("gpu1", 1000)]
        );
        assert!(ledger.fits("n1", &GpuDemand::Fraction(700), &[]).is_ok(), "gpu1 is whole");
        assert!(ledger.fits_without("n1", &GpuDemand::Whole(2), &[], &["pod-a"]).is_ok());
        assert!(ledger.fits_without("n1", &GpuDemand::Whole(2), &[], &["pod-z"]).unwrap_err().resolvable());
        ledger.sync_node("cpu-only", &[]);
        assert!(ledger.knows("cpu-only"));
        assert_eq!(ledger.fits("cpu-only", &GpuDemand::None, &[]), Ok(()));
    }
}
