//! A real front end that no one here wrote: Debian's nginx, serving gRPC over TLS with
//! `grpc_pass` to a server on loopback, as Google's front ends sit before a service. One
//! instance per test, with its files in a directory of its own.
//!
//! `.ci/run` installs nginx when it is missing and sets `LRO_REQUIRE_NGINX=1`, so there a
//! missing binary fails the test. Elsewhere the test says it is skipped and passes.
#![allow(dead_code)]

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct Nginx {
    pub addr: SocketAddr,
    /// The PEM of its self-signed certificate, for `ca_certificate`.
    pub certificate: String,
    binary: PathBuf,
    child: Child,
    dir: PathBuf,
}

impl Nginx {
    pub fn url(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// `nginx -s reload`: new workers take over, and the old ones finish their streams
    /// and retire their connections with GOAWAY.
    pub fn reload(&self) {
        let status = Command::new(&self.binary)
            .arg("-c")
            .arg(self.dir.join("nginx.conf"))
            .args(["-s", "reload"])
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "nginx -s reload");
    }

    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("error.log")).unwrap_or_default()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // `-s stop` has the master stop its workers too (a killed master leaves them).
        let stopped = Command::new(&self.binary)
            .arg("-c")
            .arg(self.dir.join("nginx.conf"))
            .args(["-s", "stop"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !stopped {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn binary() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/usr/bin".into()])
        .map(|dir| dir.join("nginx"))
        .find(|candidate| candidate.is_file())
}

/// Starts nginx on loopback before `backend` (plaintext HTTP/2), retiring each client
/// connection after `keepalive_requests` requests; `None` (and a note on stderr) when nginx
/// is not installed and not required.
pub fn start(backend: SocketAddr, keepalive_requests: usize) -> Option<Nginx> {
    let Some(binary) = binary() else {
        assert!(
            std::env::var_os("LRO_REQUIRE_NGINX").is_none(),
            "LRO_REQUIRE_NGINX is set but nginx is not installed"
        );
        eprintln!("skipped: nginx is not installed (`.ci/run` installs it)");
        return None;
    };
    let certified = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
    let certificate = certified.cert.pem();
    // A free port can be taken between our probe and nginx's bind; try a few.
    for attempt in 0..5 {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let dir =
            std::env::temp_dir().join(format!("lro-nginx-{}-{port}-{attempt}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("cert.pem"), &certificate).unwrap();
        std::fs::write(dir.join("key.pem"), certified.signing_key.serialize_pem()).unwrap();
        let d = dir.display();
        let config = format!(
            "worker_processes 1;\n\
             daemon off;\n\
             pid {d}/nginx.pid;\n\
             error_log {d}/error.log notice;\n\
             events {{ worker_connections 1024; }}\n\
             http {{\n\
               access_log off;\n\
               client_body_temp_path {d}/body;\n\
               proxy_temp_path {d}/proxy;\n\
               fastcgi_temp_path {d}/fastcgi;\n\
               uwsgi_temp_path {d}/uwsgi;\n\
               scgi_temp_path {d}/scgi;\n\
               server {{\n\
                 listen 127.0.0.1:{port} ssl http2;\n\
                 ssl_certificate {d}/cert.pem;\n\
                 ssl_certificate_key {d}/key.pem;\n\
                 keepalive_requests {keepalive_requests};\n\
                 http2_max_concurrent_streams 128;\n\
                 location / {{ grpc_pass grpc://{backend}; }}\n\
               }}\n\
             }}\n"
        );
        std::fs::write(dir.join("nginx.conf"), config).unwrap();
        let mut child = Command::new(&binary)
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nginx starts");
        if wait_until_listening(&mut child, addr, &dir) {
            return Some(Nginx {
                addr,
                certificate,
                binary,
                child,
                dir,
            });
        }
        let _ = child.kill();
        let _ = child.wait();
    }
    panic!("nginx did not start listening on a loopback port in 5 tries");
}

/// True once `addr` accepts a TCP connection; false if nginx exits first (its port was
/// taken). Bounded, and never a measure of speed: a busy machine only takes longer.
fn wait_until_listening(child: &mut Child, addr: SocketAddr, dir: &Path) -> bool {
    for _ in 0..600 {
        if let Ok(Some(_)) = child.try_wait() {
            return false;
        }
        if TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let log = std::fs::read_to_string(dir.join("error.log")).unwrap_or_default();
    panic!("nginx never listened on {addr}:\n{log}");
}
