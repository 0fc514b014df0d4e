//! Starting a real server program (Debian's tinyproxy, nginx) for a test: finding its
//! binary, or skipping when it is missing and not required, a free loopback port, and
//! waiting until it listens.
#![allow(dead_code)]

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::Duration;

/// The program `name` on `PATH` (or in `/usr/sbin`, `/usr/bin`); `None`, with a note on
/// stderr, when it is not installed, unless `required` (an environment variable `.ci/run`
/// sets) says it must be.
pub fn find(name: &str, required: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let found = std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/usr/bin".into()])
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file());
    if found.is_none() {
        assert!(
            std::env::var_os(required).is_none(),
            "{required} is set but {name} is not installed"
        );
        eprintln!("skipped: {name} is not installed (`.ci/run` installs it)");
    }
    found
}

/// A loopback address with a port free now (another process may take it before the
/// program binds it: callers try a few).
pub fn free_loopback_addr() -> SocketAddr {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// True once `addr` accepts a TCP connection; false if the program exits first (its port
/// was taken). Bounded, and never a measure of speed: a busy machine only takes longer.
/// `log` is shown if it never listens.
pub fn wait_until_listening(child: &mut Child, addr: SocketAddr, log: &Path) -> bool {
    for _ in 0..600 {
        if let Ok(Some(_)) = child.try_wait() {
            return false;
        }
        if TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let log = std::fs::read_to_string(log).unwrap_or_default();
    panic!("the server never listened on {addr}:\n{log}");
}
