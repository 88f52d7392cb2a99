//! Connecting like kubectl: the kubeconfig from `--kubeconfig`, else `$KUBECONFIG` (a list of
//! files, merged), else `~/.kube/config`; the context from `--context`, else current-context;
//! the namespace from `-n`, else the context's namespace, else `default`. With no kubeconfig at
//! all, a pod's in-cluster service account is used, as kubectl does.

use kube::Client;
use kube::config::{Config, KubeConfigOptions, Kubeconfig, KubeconfigError};

use crate::cli::ConnectionArgs;
use crate::error::{Error, Result};

/// A client and the namespace commands act in.
#[derive(Clone)]
pub struct Target {
    /// The client for the chosen cluster and user.
    pub client: Client,
    /// `-n`, else the context's namespace, else `default`.
    pub namespace: String,
}

/// Builds the client and namespace from the kubectl flags.
///
/// # Errors
/// [`Error::Kubeconfig`] when the kubeconfig cannot be read or names a missing context,
/// [`Error::NoKubeconfig`] when there is none and no in-cluster account, [`Error::Client`] when
/// the client cannot be built.
pub async fn connect(args: &ConnectionArgs) -> Result<Target> {
    let config = load_config(args).await?;
    let namespace = args
        .namespace
        .clone()
        .filter(|namespace| !namespace.is_empty())
        .unwrap_or_else(|| config.default_namespace.clone());
    let client = Client::try_from(config).map_err(|error| Error::Client(Box::new(error)))?;
    Ok(Target { client, namespace })
}

async fn load_config(args: &ConnectionArgs) -> Result<Config> {
    let options = KubeConfigOptions {
        context: args.context.clone(),
        cluster: args.cluster.clone(),
        user: args.user.clone(),
    };
    let kubeconfig = match &args.kubeconfig {
        Some(path) => Kubeconfig::read_from(path).map_err(|source| Error::Kubeconfig {
            path: Some(path.clone()),
            source: Box::new(source),
        })?,
        None => match Kubeconfig::read() {
            Ok(kubeconfig) => kubeconfig,
            // No file anywhere: inside a pod, use its service account like kubectl.
            Err(KubeconfigError::FindPath | KubeconfigError::ReadConfig(..)) => {
                return Config::incluster().map_err(|_| Error::NoKubeconfig);
            }
            Err(source) => {
                return Err(Error::Kubeconfig {
                    path: None,
                    source: Box::new(source),
                });
            }
        },
    };
    Config::from_custom_kubeconfig(kubeconfig, &options)
        .await
        .map_err(|source| Error::Kubeconfig {
            path: args.kubeconfig.clone(),
            source: Box::new(source),
        })
}
