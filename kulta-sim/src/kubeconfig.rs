//! Kubeconfig files pointing kubectl (or any client) at a sim.

use std::path::Path;

/// The kubeconfig YAML for a server URL and a bearer token.
pub(crate) fn render(server: &str, token: &str) -> String {
    format!(
        "apiVersion: v1\n\
         kind: Config\n\
         clusters:\n\
         - name: kulta-sim\n  cluster:\n    server: {server}\n\
         contexts:\n\
         - name: kulta-sim\n  context:\n    cluster: kulta-sim\n    user: {token}\n    namespace: default\n\
         current-context: kulta-sim\n\
         users:\n\
         - name: {token}\n  user:\n    token: {token}\n"
    )
}

/// Writes the kubeconfig to `path`.
///
/// # Errors
/// Any I/O error.
pub fn write(path: &Path, server: &str, token: &str) -> std::io::Result<()> {
    if let Some(parent) = path.parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(path, render(server, token))
}
