//! A real browser for the explorer's pages: Debian's `chromium`, headless,
//! driven through `chromedriver` by WebDriver.

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder};
use hyper_util::client::legacy::connect::HttpConnector;

/// A chromedriver of this test's own, and a browser session on it; both
/// end when it is dropped (the session by [`Browser::close`]).
pub struct Browser {
    pub client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free port")
}

/// The program at `name` on the PATH or at `fallback`.
fn program(name: &str, fallback: &str) -> PathBuf {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| PathBuf::from(fallback))
}

impl Browser {
    /// Starts chromedriver and a headless Chromium session. Fails, naming
    /// the packages, where they are not installed.
    pub async fn start() -> Browser {
        let chromium = program("chromium", "/usr/bin/chromium");
        let chromedriver = program("chromedriver", "/usr/bin/chromedriver");
        assert!(
            chromium.is_file() && chromedriver.is_file(),
            "the explorer's browser tests need Chromium and ChromeDriver: `apt-get install chromium chromium-driver` (Debian), looked for {} and {}",
            chromium.display(),
            chromedriver.display()
        );
        let port = free_port();
        // A process group of its own: the browsers it starts end with it.
        let driver = Command::new(&chromedriver)
            .process_group(0)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let profile = tempfile::tempdir().expect("a profile directory");
        let capabilities = serde_json::json!({
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    "--disable-dev-shm-usage", "--window-size=1200,1400",
                    format!("--user-data-dir={}", profile.path().display()),
                ]
            }
        });
        let capabilities = match capabilities {
            serde_json::Value::Object(map) => map,
            _ => unreachable!("an object"),
        };
        let started = Instant::now();
        let client = loop {
            match ClientBuilder::new(HttpConnector::new())
                .capabilities(capabilities.clone())
                .connect(&format!("http://127.0.0.1:{port}"))
                .await
            {
                Ok(client) => break client,
                Err(error) if started.elapsed() < Duration::from_secs(20) => {
                    let _ = error;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(error) => panic!("no browser session: {error}"),
            }
        };
        Browser {
            client,
            driver,
            _profile: profile,
        }
    }

    /// Saves a screenshot of the page as `{name}.png` under
    /// `$EXPLORER_SCREENSHOTS` (default `target/explorer-screenshots`);
    /// its path.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let dir = std::env::var_os("EXPLORER_SCREENSHOTS")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/explorer-screenshots")
            });
        std::fs::create_dir_all(&dir).expect("the screenshots' directory");
        let png = self.client.screenshot().await.expect("a screenshot");
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).expect("the screenshot written");
        path
    }

    /// Ends the session, then the driver.
    pub async fn close(self) {
        let _ = self.client.clone().close().await;
    }
}

/// The driver ends with the test, passed or failed (a panicking test never
/// reaches [`Browser::close`]), and takes its browser with it.
impl Drop for Browser {
    fn drop(&mut self) {
        let group = format!("-{}", self.driver.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
