//! Dispatch: one function per command, given parsed arguments, returning the exit code.

use std::io::Write;
use std::process::ExitCode;

use chrono::Utc;
use kube::Api;
use kube::api::ListParams;
use kulta_api::Rollout;

use crate::actions::{self, Action};
use crate::cli::{Args, Command, SetCommand, rollout_name};
use crate::client::{Target, connect};
use crate::error::{EXIT_OK, Error, Result, list_error};
use crate::{get, list, set_image, status};

/// Runs the command; returns the process exit code. Errors are returned to `main`, which
/// prints them.
///
/// # Errors
/// Any [`Error`] of the command.
pub async fn run(args: Args) -> Result<ExitCode> {
    let Target { client, namespace } = connect(&args.connection).await?;
    let rollouts: Api<Rollout> = Api::namespaced(client.clone(), &namespace);
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let code = match args.command {
        Command::Get { target, watch } => {
            let name = rollout_name(&target)?;
            if watch {
                get::watch(&client, &namespace, &name, &mut out).await?;
            } else {
                get::show(&client, &namespace, &name, &mut out).await?;
            }
            EXIT_OK
        }
        Command::List { all_namespaces } => {
            let (api, what) = if all_namespaces {
                (
                    Api::<Rollout>::all(client.clone()),
                    "rollouts in all namespaces".to_string(),
                )
            } else {
                (rollouts, format!("rollouts in namespace {namespace:?}"))
            };
            let listed = api
                .list(&ListParams::default())
                .await
                .map_err(|source| list_error("list", what, source))?;
            if listed.items.is_empty() {
                if all_namespaces {
                    eprintln!("No rollouts found");
                } else {
                    eprintln!("No rollouts found in namespace {namespace:?}");
                }
            } else {
                let text = list::render_list(&listed.items, all_namespaces, Utc::now());
                out.write_all(text.as_bytes()).map_err(Error::Output)?;
            }
            EXIT_OK
        }
        Command::Promote { name, full } => {
            let action = if full {
                Action::PromoteFull
            } else {
                Action::Promote
            };
            annotate(&rollouts, &namespace, &name, action, &mut out).await?
        }
        Command::Abort { name } => {
            annotate(&rollouts, &namespace, &name, Action::Abort, &mut out).await?
        }
        Command::Retry { name } => {
            annotate(&rollouts, &namespace, &name, Action::Retry, &mut out).await?
        }
        Command::Status { name, timeout } => {
            let stderr = std::io::stderr();
            let mut err = stderr.lock();
            status::wait(&rollouts, &namespace, &name, timeout, &mut out, &mut err).await?
        }
        Command::Set {
            what: SetCommand::Image { name, images },
        } => {
            let text = set_image::apply(&rollouts, &namespace, &name, &images).await?;
            out.write_all(text.as_bytes()).map_err(Error::Output)?;
            EXIT_OK
        }
    };
    out.flush().map_err(Error::Output)?;
    Ok(ExitCode::from(code))
}

async fn annotate(
    rollouts: &Api<Rollout>,
    namespace: &str,
    name: &str,
    action: Action,
    out: &mut impl Write,
) -> Result<u8> {
    let (confirmation, note) = actions::apply(rollouts, namespace, name, action).await?;
    out.write_all(confirmation.as_bytes())
        .map_err(Error::Output)?;
    if let Some(note) = note {
        eprintln!("note: {note}");
    }
    Ok(EXIT_OK)
}
