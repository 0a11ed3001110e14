//! The extender's Kubernetes client, used only when a cluster is configured
//! (`[scheduler.kubernetes]`, or `serve --kubeconfig`/`--in-cluster`); without one the
//! extender runs on telemetry and bind calls alone and never reaches for a cluster.
//!
//! - [`watch`]: a list + watch of Nodes and Pods feeding the cluster model;
//! - [`bind`]: `bind` posts the pod's Binding (`bind = true`), rolling the model back when the
//!   API refuses it;
//! - [`evict`]: each rebalance plan's evictions through the Eviction API (`evict = true`;
//!   otherwise plans stay dry runs).

pub mod bind;
pub mod evict;
pub mod watch;

/// The client type [`connect`] returns.
pub use kube::Client;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// `[scheduler.kubernetes]`: whether and how to reach a cluster.
///
/// ```toml
/// [scheduler.kubernetes]
/// kubeconfig = "/etc/ironspider/kubeconfig"   # or in_cluster = true
/// bind = true
/// scheduler_names = ["ironspider"]
/// evict = false
/// evict_namespaces = ["default"]
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KubernetesConfig {
    /// A kubeconfig file to reach the cluster with (its current context unless `context`
    /// names one). Unset (the default) and `in_cluster = false`: no cluster.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use (default: its current context).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    /// Use the pod's service account (`KUBERNETES_SERVICE_HOST`/`_PORT` and
    /// `/var/run/secrets/kubernetes.io/serviceaccount`), for IronSpider running in the cluster.
    pub in_cluster: bool,
    /// Post a Binding for every pod `bind` places (kube-scheduler's `bindVerb`). Default false:
    /// `bind` only records the placement.
    pub bind: bool,
    /// The `spec.schedulerName`s of the pods `bind` may bind: those of the kube-scheduler
    /// profiles that call this extender (deploy/ runs one named `ironspider`). A bind for a
    /// pod another scheduler owns is refused. Default `["ironspider"]`.
    pub scheduler_names: Vec<String>,
    /// Carry out the rebalancer's planned evictions through the Eviction API. Default false:
    /// plans are dry runs.
    pub evict: bool,
    /// The namespaces whose pods may be evicted; a planned move of a pod elsewhere is refused
    /// before the API is asked. Default `["default"]`.
    pub evict_namespaces: Vec<String>,
}

impl Default for KubernetesConfig {
    fn default() -> Self {
        Self {
            kubeconfig: None,
            context: None,
            in_cluster: false,
            bind: false,
            scheduler_names: vec!["ironspider".to_string()],
            evict: false,
            evict_namespaces: vec!["default".to_string()],
        }
    }
}

impl KubernetesConfig {
    /// Whether a cluster is configured.
    pub fn enabled(&self) -> bool {
        self.kubeconfig.is_some() || self.in_cluster
    }

    /// Refuses contradictory settings: two ways to reach the cluster, or binding or evicting
    /// without one.
    pub fn validate(&self) -> Result<(), KubernetesConfigError> {
        if self.kubeconfig.is_some() && self.in_cluster {
            return Err(KubernetesConfigError::TwoWays);
        }
        if self.context.is_some() && self.kubeconfig.is_none() {
            return Err(KubernetesConfigError::ContextWithoutKubeconfig);
        }
        for (setting, set) in [("bind", self.bind), ("evict", self.evict)] {
            if set && !self.enabled() {
                return Err(KubernetesConfigError::NoCluster(setting));
            }
        }
        Ok(())
    }
}

/// Settings of `[scheduler.kubernetes]` that contradict each other.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KubernetesConfigError {
    /// Both `kubeconfig` and `in_cluster`.
    #[error("scheduler.kubernetes: set kubeconfig or in_cluster, not both")]
    TwoWays,
    /// `context` without `kubeconfig`.
    #[error("scheduler.kubernetes: context needs a kubeconfig")]
    ContextWithoutKubeconfig,
    /// `bind` or `evict` (named) without a cluster.
    #[error("scheduler.kubernetes: {0} = true needs a cluster (kubeconfig or in_cluster)")]
    NoCluster(&'static str),
}

/// Why the client could not be built. Each message names its cause, which is therefore not
/// also a `source()` (so a chain of causes prints it once).
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The settings contradict each other.
    #[error(transparent)]
    Invalid(#[from] KubernetesConfigError),
    /// The kubeconfig could not be read or used.
    #[error("kubeconfig {path}: {error}")]
    Kubeconfig {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        error: kube::config::KubeconfigError,
    },
    /// Not running in a pod, or its service account is missing.
    #[error("in-cluster configuration: {0}")]
    InCluster(kube::config::InClusterError),
    /// The HTTP client could not be built (TLS settings, say).
    #[error("Kubernetes client: {0}")]
    Client(kube::Error),
}

impl From<kube::config::InClusterError> for ConnectError {
    fn from(error: kube::config::InClusterError) -> Self {
        Self::InCluster(error)
    }
}

impl From<kube::Error> for ConnectError {
    fn from(error: kube::Error) -> Self {
        Self::Client(error)
    }
}

/// A client for the configured cluster; `None` when no cluster is configured. Builds the
/// client only: nothing is sent until the watch starts or a verb needs the API. Requests
/// are not retried inside the client (see the body).
pub async fn connect(config: &KubernetesConfig) -> Result<Option<kube::Client>, ConnectError> {
    config.validate()?;
    let mut settings = if let Some(path) = &config.kubeconfig {
        let kubeconfig_error = |error| ConnectError::Kubeconfig { path: path.clone(), error };
        let kubeconfig = kube::config::Kubeconfig::read_from(path).map_err(kubeconfig_error)?;
        let options = kube::config::KubeConfigOptions { context: config.context.clone(), ..Default::default() };
        kube::Config::from_custom_kubeconfig(kubeconfig, &options).await.map_err(kubeconfig_error)?
    } else if config.in_cluster {
        kube::Config::incluster()?
    } else {
        return Ok(None);
    };
    // kube's default retry layer retries 429 (which is how a PodDisruptionBudget refuses an
    // eviction) and 503 with backoff, hidden inside one call: an eviction must be tried once
    // and reported, and the watch and the binder retry on their own terms.
    settings.default_retry = false;
    Ok(Some(kube::Client::try_from(settings)?))
}

/// `namespace/name` split in two; a bare name is in `default`.
pub fn split_pod(pod: &str) -> (&str, &str) {
    pod.split_once('/').unwrap_or(("default", pod))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binding_or_evicting_needs_a_cluster_and_one_way_to_reach_it() {
        assert_eq!(KubernetesConfig::default().validate(), Ok(()));
        assert!(!KubernetesConfig::default().enabled());
        let evict_alone = KubernetesConfig { evict: true, ..KubernetesConfig::default() };
        assert!(evict_alone.validate().unwrap_err().to_string().contains("evict = true needs a cluster"));
        let both = KubernetesConfig { kubeconfig: Some("k".into()), in_cluster: true, ..KubernetesConfig::default() };
        assert!(both.validate().unwrap_err().to_string().contains("not both"));
        let in_cluster = KubernetesConfig { in_cluster: true, bind: true, evict: true, ..KubernetesConfig::default() };
        assert_eq!(in_cluster.validate(), Ok(()));
        assert_eq!(split_pod("ns/p"), ("ns", "p"));
        assert_eq!(split_pod("p"), ("default", "p"));
    }
}
