//! The official DynamoDB Local in a container, run through the Docker API.
//!
//! The engine is the one `DOCKER_HOST` names, else the local Docker socket:
//! a Docker engine, or Podman's Docker-compatible service. The container is
//! started by `testcontainers` from the image its `dynamodb_local` module
//! names ([`crate::DYNAMODB_LOCAL_IMAGE`]), with DynamoDB Local's port mapped
//! to a free port of this machine.
//!
//! Every Docker API call runs on one runtime of this module, on threads of
//! its own, so that a container and the API client's connections outlive the
//! runtime of whoever started it (each `#[tokio::test]` has one).
//!
//! `start` returns as soon as the container runs; the caller waits until
//! DynamoDB Local answers (the module's own wait, a log line and a fixed
//! pause, is too short for a loaded machine, and would delay the guard).
//!
//! Three things remove a container:
//!
//! - dropping its handle removes it at once;
//! - when this process ends without dropping it (a shared server in a
//!   static), a guard ends it. The guard is a shell run in the container,
//!   right after it starts, whose standard input is a stream held by this
//!   process: when the process ends, however it ends, the engine closes that
//!   input, the shell stops DynamoDB Local, and the container, created with
//!   auto-remove, goes away;
//! - a process killed in the moment between creating a container and arming
//!   its guard leaves it behind: each container is labelled with its owner
//!   (boot, PID namespace and process id), and the first start in a process
//!   removes the containers of owners on this machine that are gone.

use std::collections::HashMap;
use std::future::Future;
use std::net::TcpListener;
use std::sync::OnceLock;
use std::time::Duration;

use testcontainers_modules::dynamodb_local::DynamoDb;
use testcontainers_modules::testcontainers::bollard::exec::{CreateExecOptions, StartExecResults};
use testcontainers_modules::testcontainers::bollard::query_parameters::{
    ListContainersOptionsBuilder, RemoveContainerOptionsBuilder,
};
use testcontainers_modules::testcontainers::core::client::docker_client_instance;
use testcontainers_modules::testcontainers::core::IntoContainerPort;
use testcontainers_modules::testcontainers::runners::AsyncRunner;
use testcontainers_modules::testcontainers::{ContainerAsync, ImageExt};
use tokio::io::AsyncWriteExt;

use crate::error::{Error, Result};

/// The port DynamoDB Local listens on in the container.
const CONTAINER_PORT: u16 = 8000;

/// The label every container of this module carries.
const LABEL: &str = "dev.dynago.local";
/// The label naming a container's owner: `<boot id>:<PID namespace>:<pid>`.
const OWNER_LABEL: &str = "dev.dynago.local.owner";

/// The guard: it waits for a first line (so that an input that is not
/// attached at all disarms it rather than firing), then for the end of its
/// input, and then stops PID 1, DynamoDB Local.
const GUARD: &str = "read -r armed || exit 0; while read -r _; do :; done; kill 1";

/// DynamoDB Local in a container.
#[derive(Debug)]
pub(crate) struct ContainerServer {
    url: String,
    id: String,
    container: Option<ContainerAsync<DynamoDb>>,
}

impl ContainerServer {
    /// Starts a container and returns once it runs, with its guard armed;
    /// DynamoDB Local in it answers a few seconds later.
    pub(crate) async fn start() -> Result<Self> {
        on_runtime(start_container()).await?
    }

    pub(crate) fn url(&self) -> String {
        self.url.clone()
    }

    /// Fails if the container no longer runs.
    pub(crate) async fn check_alive(&self) -> Result<()> {
        let id = self.id.clone();
        let state = on_runtime(async move {
            let docker = docker_client_instance().await.ok()?;
            let inspected = docker.inspect_container(&id, None).await;
            Some(inspected.ok().and_then(|c| c.state))
        })
        .await?;
        match state {
            // No answer from the engine: leave it to the readiness timeout.
            None => Ok(()),
            Some(Some(state)) if state.running == Some(true) => Ok(()),
            Some(state) => Err(Error::Exited {
                status: format!(
                    "container {} {}",
                    self.id,
                    state
                        .and_then(|s| s.exit_code)
                        .map_or("is gone".to_owned(), |code| format!(
                            "exited with status {code}"
                        ))
                ),
                output: "(removed with the container)".into(),
            }),
        }
    }
}

impl Drop for ContainerServer {
    fn drop(&mut self) {
        let Some(container) = self.container.take() else {
            return;
        };
        let Ok(runtime) = runtime() else {
            return;
        };
        let id = container.id().to_owned();
        let (done, removed) = std::sync::mpsc::channel();
        runtime.spawn(async move {
            if let Err(error) = container.rm().await {
                tracing::warn!(%id, %error, "cannot remove the DynamoDB Local container");
            }
            let _ = done.send(());
        });
        // Wait, so that the container is gone when the handle is.
        let _ = removed.recv_timeout(Duration::from_secs(60));
    }
}

/// Set once the first start of this process has removed the containers of
/// ended processes.
static REAPED: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();

async fn start_container() -> Result<ContainerServer> {
    REAPED.get_or_init(remove_orphans).await;
    let port = free_port()?;
    let mut request = DynamoDb::default()
        // Mapped explicitly: Podman reports ports mapped by the engine with
        // an empty host address, which `testcontainers` does not use.
        .with_mapped_port(port, CONTAINER_PORT.tcp())
        .with_label(LABEL, "dynamodb-local")
        // The caller waits until DynamoDB Local answers.
        .with_ready_conditions(Vec::new())
        .with_startup_timeout(Duration::from_secs(120))
        .with_host_config_modifier(|host| host.auto_remove = Some(true));
    if let Some(owner) = owner() {
        request = request.with_label(OWNER_LABEL, owner);
    }
    let container = request.start().await.map_err(|e| {
        start_error(format!(
            "{e} (the image is {}; the engine is the one DOCKER_HOST names, else \
                 /var/run/docker.sock)",
            crate::DYNAMODB_LOCAL_IMAGE
        ))
    })?;
    let host = match container.get_host().await {
        Ok(host) if host.to_string() != "localhost" => host.to_string(),
        _ => "127.0.0.1".to_owned(),
    };
    let id = container.id().to_owned();
    match guard(&id).await {
        Ok(()) => tracing::debug!(%id, port, "started DynamoDB Local in a container"),
        Err(error) => tracing::warn!(
            %id,
            %error,
            "no guard in the DynamoDB Local container: it is removed when its handle \
             is dropped, but would outlive a process that ends without dropping it"
        ),
    }
    Ok(ContainerServer {
        url: format!("http://{host}:{port}"),
        id,
        container: Some(container),
    })
}

/// This process as an owner of containers, `<boot id>:<PID namespace>:<pid>`
/// (Linux only): a process is gone when its boot and PID namespace are ours
/// and no process has its id.
fn owner() -> Option<String> {
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    let namespace = std::fs::read_link("/proc/self/ns/pid").ok()?;
    Some(format!(
        "{}:{}:{}",
        boot.trim(),
        namespace.display(),
        std::process::id()
    ))
}

/// Removes the containers of this module whose owner process, on this
/// machine and in this PID namespace, is gone.
async fn remove_orphans() {
    let Some(me) = owner() else {
        return;
    };
    let Some((here, _)) = me.rsplit_once(':') else {
        return;
    };
    let Ok(docker) = docker_client_instance().await else {
        return;
    };
    let filters = HashMap::from([("label", vec![OWNER_LABEL])]);
    let options = ListContainersOptionsBuilder::new()
        .all(true)
        .filters(&filters)
        .build();
    let Ok(containers) = docker.list_containers(Some(options)).await else {
        return;
    };
    for container in containers {
        let (Some(id), Some(labels)) = (container.id, container.labels) else {
            continue;
        };
        let Some((place, pid)) = labels.get(OWNER_LABEL).and_then(|o| o.rsplit_once(':')) else {
            continue;
        };
        let gone = place == here
            && pid.parse::<u32>().is_ok()
            && !std::path::Path::new("/proc").join(pid).exists();
        if gone {
            tracing::info!(%id, pid, "removing a DynamoDB Local container left by an ended process");
            let options = RemoveContainerOptionsBuilder::new().force(true).build();
            if let Err(error) = docker.remove_container(&id, Some(options)).await {
                tracing::debug!(%id, %error, "cannot remove the container");
            }
        }
    }
}

/// Starts the guard in the container `id` and keeps its input open for as
/// long as this process lives (or the container does).
async fn guard(id: &str) -> std::result::Result<(), String> {
    let docker = docker_client_instance().await.map_err(|e| e.to_string())?;
    let exec = docker
        .create_exec(
            id,
            CreateExecOptions {
                attach_stdin: Some(true),
                attach_stdout: Some(true),
                attach_stderr: Some(true),
                cmd: Some(vec!["sh", "-c", GUARD]),
                ..Default::default()
            },
        )
        .await
        .map_err(|e| e.to_string())?;
    let StartExecResults::Attached {
        mut output,
        mut input,
    } = docker
        .start_exec(&exec.id, None)
        .await
        .map_err(|e| e.to_string())?
    else {
        return Err("the engine started the guard detached".into());
    };
    input
        .write_all(b"armed\n")
        .await
        .map_err(|e| e.to_string())?;
    input.flush().await.map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        use futures::StreamExt;
        // Holds the input until the guard ends, which it does when the
        // container is removed.
        let _input = input;
        while output.next().await.is_some() {}
    });
    Ok(())
}

/// The runtime every Docker API call of this process runs on.
fn runtime() -> Result<&'static tokio::runtime::Runtime> {
    static RUNTIME: OnceLock<std::result::Result<tokio::runtime::Runtime, String>> =
        OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name("dynago-docker")
                .enable_all()
                .build()
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|message| start_error(format!("no runtime for the Docker API: {message}")))
}

/// Runs `task` on [`runtime`] and waits for it from any runtime.
async fn on_runtime<T: Send + 'static>(
    task: impl Future<Output = T> + Send + 'static,
) -> Result<T> {
    runtime()?
        .spawn(task)
        .await
        .map_err(|e| start_error(format!("the Docker API task failed: {e}")))
}

fn free_port() -> Result<u16> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .map_err(|source| Error::Start {
            what: "DynamoDB Local in a container (no free port)",
            source,
        })
}

fn start_error(message: String) -> Error {
    Error::Start {
        what: "DynamoDB Local in a container",
        source: std::io::Error::other(message),
    }
}

#[cfg(test)]
mod tests {
    use testcontainers_modules::testcontainers::Image;

    use super::*;
    use crate::{Backend, LocalDynamo};

    #[test]
    fn the_image_is_the_one_the_module_runs() {
        let image = DynamoDb::default();
        assert_eq!(
            format!("{}:{}", image.name(), image.tag()),
            crate::DYNAMODB_LOCAL_IMAGE
        );
    }

    /// The running containers of this process: their ids, and whether a
    /// guard runs in each.
    async fn ours() -> Vec<(String, bool)> {
        on_runtime(async {
            let docker = docker_client_instance().await.expect("a Docker client");
            let mut found = Vec::new();
            for summary in docker
                .list_containers(None)
                .await
                .expect("list the containers")
            {
                let labels = summary.labels.unwrap_or_default();
                if labels.get(OWNER_LABEL) != owner().as_ref() {
                    continue;
                }
                let id = summary.id.unwrap_or_default();
                let inspected = docker
                    .inspect_container(&id, None)
                    .await
                    .expect("inspect the container");
                let mut guarded = false;
                for exec in inspected.exec_ids.unwrap_or_default() {
                    let exec = docker.inspect_exec(&exec).await.expect("inspect the exec");
                    let guard = exec
                        .process_config
                        .and_then(|p| p.arguments)
                        .is_some_and(|args| args.iter().any(|a| a == GUARD));
                    guarded |= guard && exec.running == Some(true);
                }
                found.push((id, guarded));
            }
            found
        })
        .await
        .expect("the Docker runtime")
    }

    /// With a Docker engine (`DYNAGO_BACKEND=docker`): a container left by
    /// a process that ended before arming its guard is removed by the next
    /// process's first start, and a container of a live owner is kept.
    #[tokio::test]
    async fn containers_of_ended_processes_are_removed() {
        use testcontainers_modules::testcontainers::bollard::models::ContainerCreateBody;

        if std::env::var("DYNAGO_BACKEND").as_deref() != Ok("docker") {
            eprintln!("skipped: DYNAGO_BACKEND is not `docker`");
            return;
        }
        let me = owner().expect("an owner on Linux");
        let (here, _) = me.rsplit_once(':').expect("owner is place:pid");
        // No process has this id: it is above the kernel's largest.
        let ended = format!("{here}:{}", u32::MAX);
        // Process 1 runs (and is not this process, whose containers another
        // test counts).
        let living = format!("{here}:1");
        let create = |owner: String| async move {
            let docker = docker_client_instance().await.expect("a Docker client");
            let body = ContainerCreateBody {
                image: Some(crate::DYNAMODB_LOCAL_IMAGE.to_owned()),
                labels: Some(HashMap::from([
                    (LABEL.to_owned(), "dynamodb-local".to_owned()),
                    (OWNER_LABEL.to_owned(), owner),
                ])),
                ..Default::default()
            };
            let id = docker
                .create_container(None, body)
                .await
                .expect("create a container")
                .id;
            docker.start_container(&id, None).await.expect("start it");
            id
        };
        let listed = || async {
            let docker = docker_client_instance().await.expect("a Docker client");
            let options = ListContainersOptionsBuilder::new().all(true).build();
            docker
                .list_containers(Some(options))
                .await
                .expect("list the containers")
                .into_iter()
                .filter_map(|c| c.id)
                .collect::<Vec<_>>()
        };
        let (orphan, alive, before, after) = on_runtime(async move {
            // The first start's own removal, which another test may run at
            // any moment, is over before the orphan exists.
            REAPED.get_or_init(remove_orphans).await;
            let orphan = create(ended).await;
            let alive = create(living).await;
            let before = listed().await;
            remove_orphans().await;
            let after = listed().await;
            let docker = docker_client_instance().await.expect("a Docker client");
            let options = RemoveContainerOptionsBuilder::new().force(true).build();
            docker
                .remove_container(&alive, Some(options))
                .await
                .expect("remove the live owner's container");
            (orphan, alive, before, after)
        })
        .await
        .expect("the Docker runtime");
        assert!(before.contains(&orphan) && before.contains(&alive));
        assert!(!after.contains(&orphan), "the orphan {orphan} was kept");
        assert!(
            after.contains(&alive),
            "{alive} was removed with a live owner"
        );
    }

    /// With a Docker engine (`DYNAGO_BACKEND=docker`): a container runs with
    /// its guard, answers, and is gone once its handle is dropped.
    #[tokio::test]
    async fn a_container_is_guarded_and_removed_on_drop() {
        if std::env::var("DYNAGO_BACKEND").as_deref() != Ok("docker") {
            eprintln!("skipped: DYNAGO_BACKEND is not `docker`");
            return;
        }
        let before = ours().await;
        let dynamo = LocalDynamo::start_backend(Backend::Docker)
            .await
            .expect("DynamoDB Local in a container");
        let client = dynamo.client().await;
        client.list_tables().send().await.expect("an answer");
        let started: Vec<_> = ours()
            .await
            .into_iter()
            .filter(|(id, _)| !before.iter().any(|(other, _)| other == id))
            .collect();
        assert_eq!(started.len(), 1, "{started:?}");
        let (id, guarded) = &started[0];
        assert!(guarded, "no guard runs in {id}");
        drop(dynamo);
        assert!(
            !ours().await.iter().any(|(other, _)| other == id),
            "{id} outlived its handle"
        );
    }
}
