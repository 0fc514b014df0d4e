//! A real front end that no one here wrote: Debian's nginx, serving gRPC over TLS with
//! `grpc_pass` to a server on loopback, as Google's front ends sit before a service. One
//! instance per test, with its files in a directory of its own.
//!
//! `.ci/run` installs nginx when it is missing and sets `LRO_REQUIRE_NGINX=1`, so there a
//! missing binary fails the test. Elsewhere the test says it is skipped and passes.
#![allow(dead_code)]

use super::daemon;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

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
        assert!(self.signal("reload"), "nginx -s reload");
    }

    /// `nginx -s SIGNAL` to this instance; whether nginx took it.
    fn signal(&self, signal: &str) -> bool {
        Command::new(&self.binary)
            .arg("-c")
            .arg(self.dir.join("nginx.conf"))
            .args(["-s", signal])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("error.log")).unwrap_or_default()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // `-s stop` has the master stop its workers too (a killed master leaves them).
        if !self.signal("stop") {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Starts nginx on loopback before `backend` (plaintext HTTP/2), retiring each client
/// connection after `keepalive_requests` requests; `None` (and a note on stderr) when nginx
/// is not installed and not required.
pub fn start(backend: SocketAddr, keepalive_requests: usize) -> Option<Nginx> {
    let binary = daemon::find("nginx", "LRO_REQUIRE_NGINX")?;
    let certified = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
    let certificate = certified.cert.pem();
    // A free port can be taken between our probe and nginx's bind; try a few.
    for attempt in 0..5 {
        let addr = daemon::free_loopback_addr();
        let port = addr.port();
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
        if daemon::wait_until_listening(&mut child, addr, &dir.join("error.log")) {
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
