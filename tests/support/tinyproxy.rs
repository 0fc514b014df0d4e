//! A real proxy that no one here wrote: Debian's `tinyproxy`, one instance per test on a
//! loopback port, with its log in a file of its own.
//!
//! `.ci/run` installs tinyproxy when it is missing and sets `LRO_REQUIRE_TINYPROXY=1`, so
//! there a missing binary fails the test. Elsewhere (`cargo test` on a machine without it)
//! the test says it is skipped and passes.
#![allow(dead_code)]

use super::daemon;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

pub struct Tinyproxy {
    pub addr: SocketAddr,
    child: Child,
    dir: PathBuf,
}

impl Tinyproxy {
    /// `http://[user:password@]127.0.0.1:PORT`.
    pub fn url(&self, credentials: Option<&str>) -> String {
        match credentials {
            Some(credentials) => format!("http://{credentials}@{}", self.addr),
            None => format!("http://{}", self.addr),
        }
    }

    /// Everything tinyproxy has logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("tinyproxy.log")).unwrap_or_default()
    }

    /// The CONNECT requests tinyproxy read (`CONNECT host:port HTTP/1.1`), in order.
    pub fn connects(&self) -> Vec<String> {
        self.log()
            .lines()
            .filter_map(|line| line.split_once("): CONNECT "))
            .map(|(_, rest)| format!("CONNECT {rest}"))
            .collect()
    }
}

impl Drop for Tinyproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Starts tinyproxy on loopback, with Basic auth for `user:password` if given; `None` (and
/// a note on stderr) when tinyproxy is not installed and not required.
pub fn start(basic_auth: Option<(&str, &str)>) -> Option<Tinyproxy> {
    let binary = daemon::find("tinyproxy", "LRO_REQUIRE_TINYPROXY")?;
    // A free port can be taken between our probe and tinyproxy's bind; try a few.
    for attempt in 0..5 {
        let addr = daemon::free_loopback_addr();
        let port = addr.port();
        let dir = std::env::temp_dir().join(format!(
            "lro-tinyproxy-{}-{port}-{attempt}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let mut config = format!(
            "Port {port}\nListen 127.0.0.1\nTimeout 60\nMaxClients 100\nAllow 127.0.0.1\n\
             LogLevel Connect\n"
        );
        if let Some((user, password)) = basic_auth {
            config.push_str(&format!("BasicAuth {user} {password}\n"));
        }
        std::fs::write(dir.join("tinyproxy.conf"), config).unwrap();
        let log = std::fs::File::create(dir.join("tinyproxy.log")).unwrap();
        let mut child = Command::new(&binary)
            .arg("-d")
            .arg("-c")
            .arg(dir.join("tinyproxy.conf"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("tinyproxy starts");
        if daemon::wait_until_listening(&mut child, addr, &dir.join("tinyproxy.log")) {
            return Some(Tinyproxy { addr, child, dir });
        }
        let _ = child.kill();
        let _ = child.wait();
    }
    panic!("tinyproxy did not start listening on a loopback port in 5 tries");
}
