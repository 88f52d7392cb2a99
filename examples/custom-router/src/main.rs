//! `kulta-configmap-router`: the KULTA operator with the ConfigMap router registered beside the
//! Gateway API one. It takes every flag of `kulta run`.
#![cfg_attr(
    not(test),
    deny(clippy::arithmetic_side_effects, clippy::cast_possible_truncation)
)]
use kulta_example_configmap_router::ConfigMapRouterFactory;

fn main() -> std::process::ExitCode {
    let command = clap::Command::new("kulta-configmap-router").version(clap::crate_version!());
    kulta_controller::operator::main(command, |client| {
        vec![Box::new(ConfigMapRouterFactory::new(client.clone()))]
    })
}
